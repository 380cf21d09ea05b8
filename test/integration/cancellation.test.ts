import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BLOCK_SIZE } from '../../core/blocks.js';
import type { ComputePort } from '../../core/compute/port.js';
import { runPass } from '../../core/engine/pass.js';
import { WorkCancelledError } from '../../core/errors.js';
import type { FailbackDeps } from '../../core/failback/run-state.js';
import { streamVolumePass } from '../../core/failback/steps/stream-pass.js';
import { createTaskHandler } from '../../core/failback/task-handler.js';
import { createVolume, snapshotVolume, writeVolume } from '../../core/localcloud/local-volume.js';
import type { BlockSource } from '../../core/ports.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { stepDeps } from '../support/step-deps.js';

const BLOCKS = 256;

describe('a pass whose caller gives up', () => {
  let test: TestCloud;
  let snapshotId: string;
  beforeAll(async () => {
    test = await startTestCloud();
    const volume = join(test.dir, 'v.img');
    await createVolume(volume, BLOCKS * BLOCK_SIZE);
    await writeVolume(volume, 0, Buffer.alloc(BLOCKS * BLOCK_SIZE, 7));
    snapshotId = (await snapshotVolume(test.cloud.store, volume)).snapshotId;
  });
  afterAll(() => test.stop());

  it('stops reading when aborted: no call starts after the abort and the server hears nothing more', {
    timeout: 60_000,
  }, async () => {
    // 150 ms per call and 20 calls/s at most: the pass would take ~13 s, so the abort lands mid-pass.
    test.cloud.ebs.setFaults({ latencyMs: 150 });
    const controller = new AbortController();
    let started = 0;
    let startedAfterAbort = 0;
    const counting: BlockSource = {
      listSnapshotBlocks: (...args) => test.source.listSnapshotBlocks(...args),
      listChangedBlocks: (...args) => test.source.listChangedBlocks(...args),
      getSnapshotBlock: (...args) => {
        started += 1;
        if (controller.signal.aborted) startedAfterAbort += 1;
        return test.source.getSnapshotBlock(...args);
      },
    };
    test.cloud.ebs.resetStats();
    const pass = runPass(
      { volumeKey: 'cancel', passNumber: 1, kind: 'full', snapshotId, volumeSizeBytes: BLOCKS * BLOCK_SIZE },
      {
        source: counting,
        staging: test.staging,
        governor: { maxRequestsPerSecond: 20, initialRequestsPerSecond: 20 },
        signal: controller.signal,
      },
    );
    pass.catch(() => undefined);
    while (started < 20) await sleep(20);

    controller.abort(new Error('StreamPass timed out'));
    const abortedAt = performance.now();
    const error = await pass.catch((caught: unknown) => caught);
    const settledAfterMs = performance.now() - abortedAt;
    // Calls already on the wire may still reach the server; give them their latency, then count.
    await sleep(500);
    const heardBy500ms = test.cloud.ebs.stats.calls.GetSnapshotBlock;
    await sleep(1500);
    const heardBy2s = test.cloud.ebs.stats.calls.GetSnapshotBlock;
    test.cloud.ebs.setFaults({ latencyMs: 0 });

    expect(error).toBeInstanceOf(WorkCancelledError);
    expect(startedAfterAbort).toBe(0);
    // The calls in flight were cut, not waited out.
    expect(settledAfterMs).toBeLessThan(150);
    expect(heardBy2s).toBe(heardBy500ms);
    expect(heardBy2s).toBeLessThan(BLOCKS / 2);
  });
});

describe('StreamPass cut by its signal', () => {
  let test: TestCloud;
  let deps: FailbackDeps;
  let input: Parameters<typeof streamVolumePass>[0];
  beforeAll(async () => {
    // 50 ms per call: a pass of 64 blocks takes seconds, so the abort lands mid-pass.
    test = await startTestCloud({ ebs: { latencyMs: 50 } });
    const volume = join(test.dir, 'v.img');
    await createVolume(volume, 64 * BLOCK_SIZE);
    await writeVolume(volume, 0, Buffer.alloc(64 * BLOCK_SIZE, 9));
    const { snapshotId } = await snapshotVolume(test.cloud.store, volume);
    deps = stepDeps({} as ComputePort, {
      blockSource: test.source,
      staging: (prefix) => test.stagingAt(STAGING_BUCKET, prefix),
      stagingBucket: STAGING_BUCKET,
    });
    const snapshot = { volumeKey: 'v', hostId: 'i-1', volumeId: 'v', sizeBytes: 64 * BLOCK_SIZE, snapshotId };
    input = { runId: 'cut', passNumber: 1, kind: 'full', snapshot, invocations: 0 };
  });
  afterAll(() => test.stop());

  it('fails with WorkCancelledError when aborted before its deadline (the Task was given up)', async () => {
    // Calls of a whole second: at 50 ms a call the pass can end before the abort on a fast machine.
    test.cloud.ebs.setFaults({ latencyMs: 1000 });
    const error = await streamVolumePass(
      { ...input, runId: 'cut-early' },
      deps,
      Date.now() + 60_000,
      AbortSignal.timeout(300),
    )
      .then(() => 'finished')
      .catch((caught: unknown) => caught);
    test.cloud.ebs.setFaults({ latencyMs: 50 });
    expect(error).toBeInstanceOf(WorkCancelledError);
  });

  it('returns its cursor when cut after its deadline (the hard stop), and the next invocation finishes the pass', async () => {
    // Calls of a whole second: the first segment is still being read when the hard stop comes.
    test.cloud.ebs.setFaults({ latencyMs: 1000 });
    const first = await streamVolumePass(input, deps, Date.now() + 100, AbortSignal.timeout(400));
    test.cloud.ebs.setFaults({ latencyMs: 50 });
    expect(first).toMatchObject({ done: false, cursor: { nextShard: 0 } });

    const second = await streamVolumePass({ ...first, invocations: first.invocations }, deps, Date.now() + 60_000);
    expect(second.done).toBe(true);
    expect(second.stats?.blocksListed).toBe(64);
  });
});

describe('the Task handler', () => {
  const context = (remainingMs: number, signal?: AbortSignal) =>
    ({
      getRemainingTimeInMillis: () => remainingMs,
      functionName: 'f',
      awsRequestId: 'r',
      signal,
    }) as unknown as Context;
  const capture = () => {
    let given: AbortSignal | undefined;
    const task = {
      input: z.object({}),
      run: async (_input: object, _deps: FailbackDeps, _deadline: number, signal: AbortSignal) => {
        given = signal;
      },
    };
    const handler = createTaskHandler('StreamPass', task, () => ({}) as FailbackDeps);
    return { handler, given: () => given };
  };

  it("hands the step a signal that aborts with the local runner's (Task timeout, execution ended)", async () => {
    const { handler, given } = capture();
    const runner = new AbortController();
    await handler({}, context(900_000, runner.signal));
    expect(given()?.aborted).toBe(false);
    runner.abort(new Error('States.Timeout'));
    expect(given()?.aborted).toBe(true);
  });

  it("aborts the step's signal just before a Lambda's time runs out, where Lambda would freeze it", async () => {
    const { handler, given } = capture();
    await handler({}, context(3_000));
    expect(given()?.aborted).toBe(false);
    await sleep(1_500);
    expect(given()?.aborted).toBe(true);
  });
});
