import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { readJournal } from '../../core/engine/journal.js';
import { passPrefix } from '../../core/engine/layout.js';
import { runPass } from '../../core/engine/pass.js';
import { imageSha256 } from '../../core/image-digest.js';
import { snapshotVolume } from '../../core/localcloud/local-volume.js';
import { startCli } from '../support/cli.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { type Fill, makeVolume, sameImage, writeBlock } from '../support/volumes.js';

const SIZE = 96 * BLOCK_SIZE + 4000;

describe('faults on the way: throttling, 500s, a corrupted body, a SIGKILLed applier', () => {
  let test: TestCloud;
  beforeAll(async () => {
    test = await startTestCloud({ seed: 7 });
  });
  afterAll(() => test.stop());

  /** Runs `homebound apply` as its own process, as a sync gateway does. */
  function applier(target: string, extra: string[] = []) {
    const args = ['apply', '--bucket', STAGING_BUCKET, '--prefix', 'runs/test/', '--volume-key', 'faulty'];
    args.push('--target', target, '--state-dir', join(test.dir, 'faulty-state'), '--create-size', String(SIZE));
    return startCli([...args, ...extra], test.cloud.env());
  }

  async function journal() {
    return readJournal(join(test.dir, 'faulty-state'));
  }

  it('ends byte-identical through 30% throttling, 5% 500s, one corrupted body and a SIGKILL mid-pass', async () => {
    const volume = join(test.dir, 'faulty.img');
    const target = join(test.dir, 'faulty-target.img');
    const blocks: Record<number, Fill> = {};
    for (let i = 0; i < 97; i++) blocks[i] = i % 5 === 0 ? 'zero' : 'random';
    await makeVolume(volume, SIZE, blocks);
    const snapshot = await snapshotVolume(test.cloud.store, volume);
    test.cloud.ebs.setFaults({ throttleRate: 0.3, errorRate: 0.05, corruptBlocks: 1 });

    const stream = await runPass(
      {
        volumeKey: 'faulty',
        passNumber: 1,
        kind: 'full',
        snapshotId: snapshot.snapshotId,
        volumeSizeBytes: SIZE,
        segmentBlocks: 4,
        shardBlocks: 32,
      },
      { source: test.source, staging: test.staging, retry: { baseDelayMs: 5, maxDelayMs: 50 } },
    );
    test.cloud.ebs.setFaults({ throttleRate: 0, errorRate: 0, corruptBlocks: 0 });
    expect(stream.counters.throttled).toBeGreaterThan(0);
    expect(stream.counters.retried).toBeGreaterThan(0);
    expect(stream.counters.checksumMismatches).toBe(1);

    // Slow the applier down so it is surely mid-pass, then kill it without warning.
    const slow = applier(target, ['--max-write-mibps', '8']);
    for (
      let state = await journal();
      !(state?.inProgress && state.inProgress.nextSegment >= 2);
      state = await journal()
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    slow.child.kill('SIGKILL');
    expect((await slow.done).code).toBeNull();
    expect((await journal())?.lastAppliedPass).toBe(0);

    const resumed = await applier(target).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout.trim().split('\n')[0] ?? '{}')).toMatchObject({
      passNumber: 1,
      applied: true,
      resumed: true,
    });
    expect(await sameImage(volume, target)).toBe(true);

    // And an incremental pass on top, still through faults.
    await writeBlock(volume, SIZE, 3, 'random');
    await writeBlock(volume, SIZE, 96, 'random');
    await writeBlock(volume, SIZE, 50, 'zero');
    const next = await snapshotVolume(test.cloud.store, volume, { parentSnapshotId: snapshot.snapshotId });
    test.cloud.ebs.setFaults({ throttleRate: 0.3, errorRate: 0.05, corruptBlocks: 1 });
    await runPass(
      {
        volumeKey: 'faulty',
        passNumber: 2,
        kind: 'incremental',
        snapshotId: next.snapshotId,
        baseSnapshotId: snapshot.snapshotId,
        volumeSizeBytes: SIZE,
      },
      { source: test.source, staging: test.staging, retry: { baseDelayMs: 5, maxDelayMs: 50 } },
    );
    test.cloud.ebs.setFaults({ throttleRate: 0, errorRate: 0, corruptBlocks: 0 });
    const second = await applier(target).done;
    expect(second.code, second.stderr).toBe(0);
    expect(await sameImage(volume, target)).toBe(true);
  });

  it('detects a corrupted staged segment and never applies it: the target keeps the previous pass', async () => {
    const volume = join(test.dir, 'faulty.img');
    const target = join(test.dir, 'faulty-target.img');
    const before = await imageSha256(target);
    const store = await test.cloud.store.list();
    const latest = store[store.length - 1];
    if (!latest) throw new Error('no snapshot');
    await writeBlock(volume, SIZE, 10, 'random');
    await writeBlock(volume, SIZE, 90, 'random');
    const next = await snapshotVolume(test.cloud.store, volume, { parentSnapshotId: latest.snapshotId });
    await runPass(
      {
        volumeKey: 'faulty',
        passNumber: 3,
        kind: 'incremental',
        snapshotId: next.snapshotId,
        baseSnapshotId: latest.snapshotId,
        volumeSizeBytes: SIZE,
        segmentBlocks: 1,
      },
      { source: test.source, staging: test.staging },
    );
    const prefix = passPrefix('faulty', 3);
    const [, lastSegment] = await test.staging.list(`${prefix}segments/`);
    if (!lastSegment) throw new Error('expected two segments');
    const body = await test.staging.get(lastSegment);
    body[body.length - 5000] = (body[body.length - 5000] ?? 0) ^ 0x80;
    await test.staging.put(lastSegment, body);

    const refused = await applier(target).done;
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/CorruptSegmentError.*segments\/0000-000001\.hbseg/);
    expect(await imageSha256(target)).toBe(before);
    expect((await journal())?.lastAppliedPass).toBe(2);
  });
});
