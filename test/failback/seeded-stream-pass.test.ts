import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import { BLOCK_SIZE } from '../../core/blocks.js';
import type { ComputePort } from '../../core/compute/port.js';
import { Applier } from '../../core/engine/applier.js';
import { deriveRunKey } from '../../core/engine/run-key.js';
import { hashSeed, publishSeed, seedBaseId } from '../../core/engine/seed.js';
import { CorruptSegmentError, SeedTooSmallError } from '../../core/errors.js';
import { SeedHashTimeoutError } from '../../core/failback/errors.js';
import { FailbackMetrics } from '../../core/failback/metrics.js';
import { type ApprovalPort, type FailbackDeps, runLayout } from '../../core/failback/run-state.js';
import { type StreamVolumePassOutput, streamVolumePass } from '../../core/failback/steps/stream-pass.js';
import { LOCAL_TAKEOVER_TAG } from '../../core/failback/takeover-tag.js';
import { createTaskHandler } from '../../core/failback/task-handler.js';
import { failbackTasks } from '../../core/failback/tasks.js';
import { snapshotVolume } from '../../core/localcloud/local-volume.js';
import { LocalStateMachine } from '../../core/orchestration/local-runner.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume } from '../support/volumes.js';

const SIZE = 64 * BLOCK_SIZE;
const SECRET = 'seeded stream-pass secret';
let test: TestCloud;

beforeAll(async () => {
  test = await startTestCloud();
});
afterAll(() => test?.stop());

function depsWith(overrides: Partial<FailbackDeps> = {}): FailbackDeps {
  return {
    compute: {} as ComputePort,
    blockSource: test.source,
    staging: (prefix) => test.stagingAt(STAGING_BUCKET, prefix),
    stagingBucket: STAGING_BUCKET,
    takeoverTag: LOCAL_TAKEOVER_TAG,
    approvals: {} as ApprovalPort,
    gatewayRunKey: async (runId) => deriveRunKey(SECRET, runId),
    metrics: FailbackMetrics.disabled(),
    now: () => new Date(),
    ...overrides,
  };
}

/** A takeover volume, its snapshot, and a seed image that differs from it in `differing` blocks. */
async function seededVolume(runId: string, differing: readonly number[]) {
  const volume = join(test.dir, `${runId}.img`);
  await makeVolume(volume, SIZE, Object.fromEntries(Array.from({ length: 64 }, (_, i) => [i, 'random' as const])));
  const snapshot = await snapshotVolume(test.cloud.store, volume);
  const seed = await readFile(volume);
  for (const index of differing) randomBytes(BLOCK_SIZE).copy(seed, index * BLOCK_SIZE);
  const seedPath = join(test.dir, `${runId}-seed.img`);
  await writeFile(seedPath, seed);
  const recordKey = `runs/${runId}/gateways/gw-1/volumes/vol-a/seed.json`;
  const input = {
    runId,
    passNumber: 1,
    kind: 'full' as const,
    snapshot: {
      volumeKey: 'vol-a',
      hostId: 'i-1',
      volumeId: 'vol-takeover',
      sizeBytes: SIZE,
      snapshotId: snapshot.snapshotId,
      seed: { recordKey },
    },
    invocations: 0,
  };
  /** What the target side does once it has hashed its seed disk. */
  const publish = async (seedSizeBytes = SIZE) =>
    publishSeed(
      test.stagingAt(STAGING_BUCKET),
      recordKey,
      { volumeKey: 'vol-a', seed: 'vol-seed', seedSizeBytes, hashes: await hashSeed(seedPath, SIZE) },
      deriveRunKey(SECRET, runId),
    );
  return { volume, seedPath, recordKey, input, publish };
}

/** The StreamPass Map's child (ItemProcessor) of an ASL file as deployed, as its own machine. */
function streamPassChild(definition: string) {
  const { States } = JSON.parse(readFileSync(definition, 'utf8'));
  const { StartAt, States: child } = States.StreamPass.ItemProcessor;
  return { StartAt, States: child };
}

describe('StreamPass of a seeded volume', () => {
  for (const [definition, split] of [
    ['statemachines/automated-failback.asl.json', false],
    ['statemachines/conditional-automated-failback.asl.json', true],
  ] as const) {
    it(`waits for the seed record, then streams only the blocks that differ (${definition}${split ? ', split' : ''})`, async () => {
      const runId = split ? 'seeded-split' : 'seeded-whole';
      const differing = [3, 17, 40, 63];
      const scenario = await seededVolume(runId, differing);
      const deps = depsWith(
        split ? { streamSplit: { shardBlocks: 16, invocationsPerVolume: 2, snapshotBlockQuota: 1000 } } : {},
      );
      const task = createTaskHandler('StreamPass', failbackTasks.StreamPass, () => deps);
      const outputs: StreamVolumePassOutput[] = [];
      const machine = LocalStateMachine.load({
        definition: streamPassChild(definition),
        handlers: {
          StreamPassFunctionArn: async (input, context) => {
            const output = (await task(input, {
              getRemainingTimeInMillis: () => 60_000,
              functionName: 'stream-pass',
              awsRequestId: 'local',
              signal: context.signal,
            } as never)) as StreamVolumePassOutput;
            outputs.push(output);
            // The target side finishes hashing while StreamPass waits for the second time.
            if (output.waitingForSeed && outputs.length === 2) await scenario.publish();
            return output;
          },
        },
        waitOverrides: { WaitForSeed: 20 },
      });

      const execution = machine.run(scenario.input, { executionName: runId });
      const result = (await execution.result) as unknown as StreamVolumePassOutput;

      const waits = outputs.filter((output) => output.waitingForSeed);
      expect(waits).toHaveLength(2);
      expect(waits[1]?.waitingSince).toBe(waits[0]?.waitingSince);
      expect(
        execution.history.filter((event) => 'stateName' in event && event.stateName === 'WaitForSeed'),
      ).not.toEqual([]);
      expect(result.split).toBe(split);
      expect(result.stats).toMatchObject({
        blocksListed: 64,
        blocksCompared: 64,
        blocksDiffering: differing.length,
        blocksCarried: differing.length,
        seed: 'vol-seed',
      });
      expect(result.stats?.bytesStaged).toBeGreaterThan(differing.length * BLOCK_SIZE);
      expect(result.stats?.bytesStaged).toBeLessThan((differing.length + 0.1) * BLOCK_SIZE);

      // The pass applies onto the seed, whose journal starts at it, and the target ends identical.
      const targetPath = join(test.dir, `${runId}-target.img`);
      await copyFile(scenario.seedPath, targetPath);
      const target = await openFileTarget(targetPath);
      try {
        const record = await scenario.publish();
        const applier = await Applier.open({
          staging: deps.staging(runLayout.volumes(runId)),
          volumeKey: 'vol-a',
          target,
          stateDir: join(test.dir, `${runId}-state`),
          holdsSnapshotId: seedBaseId(record),
        });
        expect(await applier.applyPass(1)).toMatchObject({ applied: true, blocksWritten: differing.length });
      } finally {
        await target.close();
      }
      expect((await readFile(targetPath)).equals(await readFile(scenario.volume))).toBe(true);
    });
  }

  it('fails with SeedHashTimeoutError once the record has not come within the time allowed', async () => {
    const scenario = await seededVolume('seeded-late', [1]);
    let now = Date.parse('2026-12-03T10:00:00Z');
    const deps = depsWith({ now: () => new Date(now) });

    const first = await streamVolumePass({ ...scenario.input, seedHashTimeoutSeconds: 60 }, deps, Date.now() + 60_000);
    now += 60_000;
    const second = await streamVolumePass(
      failbackTasks.StreamPass.input.parse(first) as never,
      deps,
      Date.now() + 60_000,
    );
    now += 1_000;

    expect(first).toMatchObject({ done: false, waitingForSeed: true, waitingSince: '2026-12-03T10:00:00.000Z' });
    expect(second).toMatchObject({ waitingForSeed: true, waitingSince: '2026-12-03T10:00:00.000Z' });
    await expect(
      streamVolumePass(failbackTasks.StreamPass.input.parse(second) as never, deps, Date.now() + 60_000),
    ).rejects.toThrow(SeedHashTimeoutError);
  });

  it('refuses a seed smaller than the volume, and a record not signed with the run key', async () => {
    const small = await seededVolume('seeded-small', [1]);
    await small.publish(SIZE - 4096);
    await expect(streamVolumePass(small.input, depsWith(), Date.now() + 60_000)).rejects.toThrow(SeedTooSmallError);

    const forged = await seededVolume('seeded-forged', [1]);
    await forged.publish();
    const otherKey = depsWith({ gatewayRunKey: async (runId) => deriveRunKey('another stack', runId) });
    await expect(streamVolumePass(forged.input, otherKey, Date.now() + 60_000)).rejects.toThrow(CorruptSegmentError);
  });
});
