import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import type { ComputePort } from '../../core/compute/port.js';
import { Applier } from '../../core/engine/applier.js';
import { MANIFEST_KEY, passPrefix } from '../../core/engine/layout.js';
import { burstTokens } from '../../core/engine/rate-governor.js';
import { InvalidInputError, StagedObjectMissingError } from '../../core/errors.js';
import { FailbackMetrics } from '../../core/failback/metrics.js';
import type { ApprovalPort, FailbackDeps, PassSnapshot } from '../../core/failback/run-state.js';
import { runLayout } from '../../core/failback/run-state.js';
import { readStreamedVolumes } from '../../core/failback/steps/record-pass.js';
import { sealVolumePass, streamShardRange } from '../../core/failback/steps/split-pass.js';
import { streamVolumePass } from '../../core/failback/steps/stream-pass.js';
import {
  MAX_STREAM_INVOCATIONS_PER_VOLUME,
  SNAPSHOT_BUDGET_SHARE,
  splitPass,
  streamSplitSettings,
} from '../../core/failback/stream-split.js';
import { LOCAL_TAKEOVER_TAG } from '../../core/failback/takeover-tag.js';
import { createTaskHandler } from '../../core/failback/task-handler.js';
import { failbackTasks } from '../../core/failback/tasks.js';
import { snapshotVolume } from '../../core/localcloud/local-volume.js';
import { LocalStateMachine } from '../../core/orchestration/local-runner.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume, sameImage } from '../support/volumes.js';

const BLOCK = 512 * 1024;
/** 8 shards of 16 blocks: split over 4 invocations of 2 shards each. */
const BLOCKS = 128;
const SHARD_BLOCKS = 16;
const QUOTA = 40;
const METHODS = ['automated', 'conditional-automated'] as const;

let test: TestCloud;
let deps: FailbackDeps;
let source: string;
const sizeBytes = BLOCKS * BLOCK;

beforeAll(async () => {
  test = await startTestCloud({ ebs: { latencyMs: 20 } });
  deps = {
    compute: {} as ComputePort,
    blockSource: test.source,
    staging: (prefix) => test.stagingAt(STAGING_BUCKET, prefix),
    stagingBucket: STAGING_BUCKET,
    takeoverTag: LOCAL_TAKEOVER_TAG,
    approvals: {} as ApprovalPort,
    metrics: FailbackMetrics.disabled(),
    now: () => new Date(),
    streamSplit: streamSplitSettings({ invocationsPerVolume: 4, snapshotBlockQuota: QUOTA, shardBlocks: SHARD_BLOCKS }),
  };
  source = join(test.dir, 'split.img');
  // A different byte in every block (and a few random ones): a block staged or applied in the wrong place shows.
  await makeVolume(
    source,
    sizeBytes,
    Object.fromEntries(Array.from({ length: BLOCKS }, (_, i) => [i, i % 17 === 0 ? 'random' : (i % 250) + 1])),
  );
});
afterAll(async () => {
  await test?.stop();
});

async function passSnapshot(volumeKey: string): Promise<PassSnapshot> {
  const snapshot = await snapshotVolume(test.cloud.store, source);
  return { volumeKey, hostId: 'i-1', volumeId: volumeKey, sizeBytes, snapshotId: snapshot.snapshotId };
}

/** Applies pass 1 of `volumeKey` to a fresh target and tells whether it equals the source. */
async function appliesIdentical(runId: string, volumeKey: string): Promise<boolean> {
  const targetPath = join(test.dir, `${runId}-target.img`);
  const target = await openFileTarget(targetPath, { createWithSize: sizeBytes });
  try {
    const staging = deps.staging(runLayout.volumes(runId));
    const applier = await Applier.open({ staging, volumeKey, target, stateDir: join(test.dir, `${runId}-state`) });
    await applier.applyPass(1);
  } finally {
    await target.close();
  }
  return sameImage(source, targetPath);
}

/** The StreamPass Map state of a method's real ASL file, alone: it ends the machine instead of going on. */
function streamPassMachine(method: (typeof METHODS)[number]) {
  const definition = JSON.parse(readFileSync(`statemachines/${method}-failback.asl.json`, 'utf8'));
  const { Next: _next, Catch: _catch, ...map } = definition.States.StreamPass;
  return { StartAt: 'StreamPass', States: { StreamPass: { ...map, End: true } } };
}

describe('splitting a pass over StreamPass invocations', () => {
  it('splits into contiguous ranges that cover every shard once, sharing ≤ the snapshot quota', () => {
    const settings = streamSplitSettings({ invocationsPerVolume: 4, snapshotBlockQuota: 1000 });

    const split = splitPass(10, settings);

    expect(split?.ranges).toEqual([
      { firstShard: 0, endShard: 2 },
      { firstShard: 2, endShard: 5 },
      { firstShard: 5, endShard: 7 },
      { firstShard: 7, endShard: 10 },
    ]);
    // Each sends at most its rate plus its burst in any second; together that stays within 90% of the quota.
    const rate = split?.requestsPerSecond ?? Number.POSITIVE_INFINITY;
    expect(rate).toBe(214);
    expect((rate + burstTokens(rate)) * 4).toBeLessThanOrEqual(1000 * SNAPSHOT_BUDGET_SHARE);
    expect(splitPass(3, settings)?.ranges).toHaveLength(3);
  });

  it('keeps a one-shard pass, or invocationsPerVolume 1, in one invocation, and splits a small quota in fewer ranges', () => {
    expect(splitPass(1, streamSplitSettings())).toBeUndefined();
    expect(splitPass(8, streamSplitSettings({ snapshotBlockQuota: 5 }))).toEqual({
      ranges: [
        { firstShard: 0, endShard: 4 },
        { firstShard: 4, endShard: 8 },
      ],
      requestsPerSecond: 1,
    });
    expect(splitPass(50, streamSplitSettings({ invocationsPerVolume: 1 }))).toBeUndefined();
  });

  it('refuses a setting out of range with InvalidInputError naming it', () => {
    expect(() => streamSplitSettings({ invocationsPerVolume: MAX_STREAM_INVOCATIONS_PER_VOLUME + 1 })).toThrow(
      InvalidInputError,
    );
    expect(() => streamSplitSettings({ snapshotBlockQuota: 0 })).toThrow(/snapshotBlockQuota/);
  });

  it.each(METHODS)(
    'runs every range of a volume at once in the %s machine (MaxConcurrency ≥ the most ranges)',
    (method) => {
      const map = streamPassMachine(method).States.StreamPass;
      const ranges = map.ItemProcessor.States.StreamShardRanges;

      expect(ranges.MaxConcurrency).toBeGreaterThanOrEqual(MAX_STREAM_INVOCATIONS_PER_VOLUME);
      expect(ranges.ItemProcessor.ProcessorConfig.Mode).toBe('INLINE');
    },
  );

  it.each(METHODS)(
    "streams one volume's full pass over 4 concurrent invocations of the %s machine's StreamPass Map, within the snapshot's quota, and it applies identical",
    { timeout: 60_000 },
    async (method) => {
      const runId = `split-${method}`;
      const snapshot = await passSnapshot('vol-split');
      test.cloud.ebs.setFaults({ quotaPerSnapshot: QUOTA });
      const throttledBefore = test.cloud.ebs.stats.throttled;
      const lambda = createTaskHandler('StreamPass', failbackTasks.StreamPass, () => deps);
      let running = 0;
      let peak = 0;
      const machine = LocalStateMachine.load({
        definition: streamPassMachine(method),
        s3: test.s3,
        handlers: {
          StreamPassFunctionArn: async (input, context) => {
            const range = (input as { step?: string }).step === 'range';
            if (range) peak = Math.max(peak, ++running);
            try {
              const lambdaContext = {
                getRemainingTimeInMillis: () => 60_000,
                functionName: 'homebound-StreamPass',
                awsRequestId: 'local',
                signal: context.signal,
              };
              return (await lambda(input, lambdaContext as never)) as never;
            } finally {
              if (range) running -= 1;
            }
          },
        },
      });

      // As CheckSnapshots leaves it: the pass's items in staging, where the map reads them and writes its results.
      const pass = { number: 1, kind: 'full' as const, final: false, snapshots: [snapshot] };
      const itemsKey = runLayout.passItemsKey(runId, 1);
      await deps.staging('').put(itemsKey, Buffer.from(JSON.stringify(pass.snapshots)));
      const snapshotCheck = {
        ready: true,
        items: { bucket: STAGING_BUCKET, key: itemsKey },
        results: { bucket: STAGING_BUCKET, prefix: runLayout.passResultsPrefix(runId, 1) },
      };
      const output = (await machine.run({ runId, pass, snapshotCheck }).result) as {
        streamed: { ResultWriterDetails: { Bucket: string; Key: string } };
      };
      // What RecordPass reads: the volumes' results from the map run's export.
      const streamed = await readStreamedVolumes({ runId, pass, results: output.streamed.ResultWriterDetails }, deps);
      const throttled = test.cloud.ebs.stats.throttled - throttledBefore;
      test.cloud.ebs.setFaults({ quotaPerSnapshot: undefined });

      expect(streamed).toHaveLength(1);
      expect(streamed[0]).toMatchObject({ snapshot: { volumeKey: 'vol-split' }, stats: { blocksListed: BLOCKS } });
      // Plan, 4 ranges (one invocation each), seal.
      expect(streamed[0]?.stats.invocations).toBe(6);
      expect(peak).toBe(4);
      const reads = test.cloud.ebs.blockReadsOf(snapshot.snapshotId);
      console.info(
        `${method}: GetSnapshotBlock per second at the server ${reads.perSecond.join(', ')}, at most ${reads.busiestSecond} in any second (quota ${QUOTA}), ${throttled} throttled`,
      );
      expect(reads.perSecond.reduce((sum, n) => sum + n, 0)).toBeGreaterThanOrEqual(BLOCKS);
      expect(reads.busiestSecond).toBeLessThanOrEqual(QUOTA);
      // The server's quota is a token bucket holding one second's worth: together the invocations never ran it dry.
      // (Without the shared budget each would start at 200/s: the arrivals stay near the quota only because the
      // throttled calls back off, and this count shows it.)
      expect(throttled).toBe(0);
      expect(await appliesIdentical(runId, 'vol-split')).toBe(true);
    },
  );

  it('resumes a range cut at its deadline without reading its staged segments again, and seals once, only when every range is staged', {
    timeout: 60_000,
  }, async () => {
    const runId = 'split-resume';
    const snapshot = await passSnapshot('vol-resume');
    const identity = { runId, passNumber: 1, kind: 'full' as const, snapshot };
    const planned = await streamVolumePass({ ...identity, invocations: 0 }, deps, Date.now() + 60_000);
    expect(planned).toMatchObject({ done: false, split: true, requestsPerSecond: 8 });
    const [first, ...rest] = planned.ranges ?? [];
    if (!first) throw new Error('no ranges');
    // The cut range keeps its budget (its first shard takes ~1 s, well past the cut); the others go faster.
    const rangeInput = (range: typeof first, requestsPerSecond = 400) => ({
      ...identity,
      step: 'range' as const,
      range,
      requestsPerSecond,
      invocations: 0,
    });

    // Cut at once: the first range stages part of a shard at most.
    const cut = await streamShardRange(rangeInput(first, planned.requestsPerSecond), deps, Date.now() + 150);
    expect(cut.done).toBe(false);
    const sealInput = {
      ...identity,
      step: 'seal' as const,
      invocations: 1,
      ranges: [{ done: true as const, invocations: 1 }],
    };
    await expect(sealVolumePass(sealInput, deps)).rejects.toBeInstanceOf(StagedObjectMissingError);
    const manifestKey = passPrefix('vol-resume', 1) + MANIFEST_KEY;
    const staging = deps.staging(runLayout.volumes(runId));
    expect(await staging.head(manifestKey)).toBeUndefined();

    // A retry of the same range (no cursor, as a Retry sends the input again) reads only what is not staged.
    const readsBefore = test.cloud.ebs.stats.calls.GetSnapshotBlock;
    const stagedBefore = (await staging.list(`${passPrefix('vol-resume', 1)}segments/`)).length;
    const resumed = await streamShardRange(rangeInput(first), deps, Date.now() + 60_000);
    const rangeBlocks = (first.endShard - first.firstShard) * SHARD_BLOCKS;
    expect(resumed.done).toBe(true);
    expect(stagedBefore).toBeGreaterThan(0);
    expect(test.cloud.ebs.stats.calls.GetSnapshotBlock - readsBefore).toBeLessThan(rangeBlocks);
    for (const range of rest)
      expect((await streamShardRange(rangeInput(range), deps, Date.now() + 60_000)).done).toBe(true);

    const sealed = await sealVolumePass(sealInput, deps);
    const manifest = await staging.get(manifestKey);
    const again = await sealVolumePass(sealInput, deps);

    expect(sealed).toMatchObject({ done: true, stats: { blocksListed: BLOCKS, invocations: 3 } });
    expect(again.stats).toEqual(sealed.stats);
    expect((await staging.get(manifestKey)).equals(manifest)).toBe(true);
    expect(await appliesIdentical(runId, 'vol-resume')).toBe(true);
  });
});
