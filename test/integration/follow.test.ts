import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { runPass } from '../../core/engine/pass.js';
import { snapshotVolume } from '../../core/localcloud/local-volume.js';
import { startCli } from '../support/cli.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume, sameImage } from '../support/volumes.js';

describe('homebound apply --follow (the sync gateway loop)', () => {
  let test: TestCloud;
  beforeAll(async () => {
    test = await startTestCloud();
  });
  afterAll(() => test.stop());

  it('applies a pass staged after it started waiting, then stops cleanly on SIGTERM', async () => {
    const size = 12 * BLOCK_SIZE;
    const volume = join(test.dir, 'follow.img');
    const target = join(test.dir, 'follow-target.img');
    await makeVolume(volume, size, { 0: 'random', 4: 'random', 11: 'random' });
    const args = ['apply', '--follow', '--poll-ms', '20', '--bucket', STAGING_BUCKET, '--prefix', 'runs/test/'];
    args.push('--volume-key', 'follow', '--target', target, '--state-dir', join(test.dir, 'follow-state'));
    const { child, done } = startCli([...args, '--create-size', String(size)], test.cloud.env());
    let stdout = '';
    const applied = new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        stdout += d;
        if (stdout.includes('\n')) resolve();
      }),
    );

    const snapshot = await snapshotVolume(test.cloud.store, volume);
    await runPass(
      { volumeKey: 'follow', passNumber: 1, kind: 'full', snapshotId: snapshot.snapshotId, volumeSizeBytes: size },
      { source: test.source, staging: test.staging },
    );
    await applied;
    expect(JSON.parse(stdout.split('\n')[0] ?? '{}')).toMatchObject({ passNumber: 1, applied: true });
    expect(await sameImage(volume, target)).toBe(true);

    child.kill('SIGTERM');
    const exit = await done;
    expect(exit.code, exit.stderr).toBe(0);
  });
});
