import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import type { ComputePort } from '../../core/compute/port.js';
import { Applier } from '../../core/engine/applier.js';
import { FailbackMetrics } from '../../core/failback/metrics.js';
import type { ApprovalPort, FailbackDeps } from '../../core/failback/run-state.js';
import { runLayout } from '../../core/failback/run-state.js';
import { streamVolumePass } from '../../core/failback/steps/stream-pass.js';
import { LOCAL_TAKEOVER_TAG } from '../../core/failback/takeover-tag.js';
import { createTaskHandler, TaskInputError } from '../../core/failback/task-handler.js';
import { failbackTasks } from '../../core/failback/tasks.js';
import { snapshotVolume } from '../../core/localcloud/local-volume.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume, sameImage } from '../support/volumes.js';

const BLOCK = 512 * 1024;
let test: TestCloud;
let deps: FailbackDeps;
/** EMF records the handlers published, parsed. */
const emitted: Record<string, unknown>[] = [];

beforeAll(async () => {
  // Every EBS call takes 20 ms, so a pass of 64 blocks cannot finish within a 100 ms invocation.
  test = await startTestCloud({ ebs: { latencyMs: 20 } });
  deps = {
    compute: {} as ComputePort,
    blockSource: test.source,
    staging: (prefix) => test.stagingAt(STAGING_BUCKET, prefix),
    stagingBucket: STAGING_BUCKET,
    takeoverTag: LOCAL_TAKEOVER_TAG,
    approvals: {} as ApprovalPort,
    metrics: new FailbackMetrics((record) => emitted.push(JSON.parse(record))),
    now: () => new Date(),
  };
});
afterAll(async () => {
  await test?.stop();
});

describe('StreamPass task', () => {
  it('continues a pass that outlasts one invocation from its cursor, and the pass applies whole', async () => {
    const sizeBytes = 64 * BLOCK + 1000;
    const source = join(test.dir, 'long-pass.img');
    await makeVolume(source, sizeBytes, Object.fromEntries(Array.from({ length: 65 }, (_, i) => [i, 'random'])));
    const snapshot = await snapshotVolume(test.cloud.store, source);
    const input = {
      runId: 'cursor-run',
      passNumber: 1,
      kind: 'full' as const,
      snapshot: {
        volumeKey: 'vol-long',
        hostId: 'i-1',
        volumeId: 'vol-long',
        sizeBytes,
        snapshotId: snapshot.snapshotId,
      },
      invocations: 0,
    };

    const first = await streamVolumePass(input, deps, Date.now() + 100);
    expect(first.done).toBe(false);
    expect(first.cursor).toEqual({ nextShard: 0 });
    let result = first;
    for (let call = 0; !result.done && call < 20; call++) {
      result = await streamVolumePass(failbackTasks.StreamPass.input.parse(result), deps, Date.now() + 60_000);
    }

    expect(result.done).toBe(true);
    expect(result.stats?.invocations).toBe(2);
    expect(result.stats?.blocksListed).toBe(65);
    const staging = deps.staging(runLayout.volumes('cursor-run'));
    const target = await openFileTarget(join(test.dir, 'long-pass-target.img'), { createWithSize: sizeBytes });
    try {
      const applier = await Applier.open({
        staging,
        volumeKey: 'vol-long',
        target,
        stateDir: join(test.dir, 'state-long'),
      });
      await applier.applyPass(1);
    } finally {
      await target.close();
    }
    expect(await sameImage(source, join(test.dir, 'long-pass-target.img'))).toBe(true);
  });

  it('publishes per invocation the bytes still to stream, down to 0 once sealed, with its read counts', async () => {
    const sizeBytes = 8 * BLOCK;
    const source = join(test.dir, 'metrics-pass.img');
    await makeVolume(source, sizeBytes, Object.fromEntries(Array.from({ length: 8 }, (_, i) => [i, 'random'])));
    const snapshot = await snapshotVolume(test.cloud.store, source);
    const snapshotRef = {
      volumeKey: 'vol-m',
      hostId: 'i-1',
      volumeId: 'vol-m',
      sizeBytes,
      snapshotId: snapshot.snapshotId,
    };
    const input = { runId: 'metrics-run', passNumber: 1, kind: 'full' as const, snapshot: snapshotRef, invocations: 0 };
    emitted.length = 0;

    const first = await streamVolumePass(input, deps, Date.now());
    await streamVolumePass(failbackTasks.StreamPass.input.parse(first), deps, Date.now() + 60_000);

    const records = emitted.filter((record) => record.RunId === 'metrics-run');
    expect(records.map((record) => [record.VolumeKey, record.BytesRemaining])).toEqual([
      ['vol-m', 8 * BLOCK],
      ['vol-m', 0],
    ]);
    const last = records[1] ?? {};
    expect(last.VolumeBytesChanged).toBe(8 * BLOCK);
    expect(Number(records[0]?.BlocksRead) + Number(last.BlocksRead)).toBe(8);
    expect(last.StreamThroughput).toBeGreaterThan(0);
    expect(last).toMatchObject({ ThrottledCalls: 0, RetriedCalls: 0, service: 'homebound' });
  });
});

describe('task handler (the middy chain every Lambda and the local runner share)', () => {
  it('refuses an input that does not fit the task schema with TaskInputError naming the field', async () => {
    const handler = createTaskHandler('CheckHosts', failbackTasks.CheckHosts, () => deps);
    const context = { getRemainingTimeInMillis: () => 60_000, functionName: 'f', awsRequestId: 'r' };

    const thrown = await Promise.resolve(handler({ hostIds: [], state: 'running' }, context as never)).catch(
      (e: unknown) => e,
    );

    expect(thrown).toBeInstanceOf(TaskInputError);
    expect((thrown as Error).name).toBe('TaskInputError');
    expect((thrown as Error).message).toContain('CheckHosts: input field hostIds');
  });
});
