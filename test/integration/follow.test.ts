import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { runPass } from '../../core/engine/pass.js';
import { snapshotVolume } from '../../core/localcloud/local-volume.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume, sameImage } from '../support/volumes.js';

const CLI = join(import.meta.dirname, '../../bin/homebound.mjs');

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
    const child = spawn(
      process.execPath,
      [
        CLI,
        'apply',
        '--follow',
        '--poll-ms',
        '20',
        '--bucket',
        STAGING_BUCKET,
        '--prefix',
        'runs/test/',
        '--volume-key',
        'follow',
        '--target',
        target,
        '--state-dir',
        join(test.dir, 'follow-state'),
        '--create-size',
        String(size),
      ],
      { env: { ...process.env, ...test.cloud.env() }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
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
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);
  });
});
