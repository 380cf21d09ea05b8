import { mkdir, readFile, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { runPass } from '../../core/engine/pass.js';
import { diskSpoolFor } from '../../core/engine/segment-spool.js';
import { snapshotVolume } from '../../core/localcloud/local-volume.js';
import { runCli } from '../support/cli.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume } from '../support/volumes.js';

const SIZE = 8 * BLOCK_SIZE;

describe('homebound apply on a full disk', () => {
  let test: TestCloud;
  let firstSegment: string;
  beforeAll(async () => {
    test = await startTestCloud();
    const volume = join(test.dir, 'v.img');
    await makeVolume(volume, SIZE, { 0: 'random', 3: 'random', 7: 'random' });
    const { snapshotId } = await snapshotVolume(test.cloud.store, volume);
    const report = await runPass(
      { volumeKey: 'disk', passNumber: 1, kind: 'full', snapshotId, volumeSizeBytes: SIZE },
      { source: test.source, staging: test.staging },
    );
    firstSegment = report.manifest.segments[0]?.key ?? '';
  });
  afterAll(() => test.stop());

  it('says which directory is full in one line, exits 3, and completes when run again with room', {
    timeout: 60_000,
  }, async () => {
    const stateDir = join(test.dir, 'state');
    const target = join(test.dir, 'target.img');
    const spool = diskSpoolFor(stateDir, 1).dir;
    // The kernel's ENOSPC: the spool's first temp file is a link to /dev/full.
    await mkdir(spool, { recursive: true });
    await symlink('/dev/full', join(spool, `${basename(firstSegment)}.tmp`));
    const apply = () =>
      runCli(
        ['apply', '--bucket', STAGING_BUCKET, '--prefix', 'runs/test/', '--volume-key', 'disk'].concat([
          '--target',
          target,
          '--create-size',
          String(SIZE),
          '--state-dir',
          stateDir,
        ]),
        test.cloud.env(),
      );

    const full = await apply();
    expect(full.code).toBe(3);
    expect(full.stderr.trim()).toMatch(/^homebound: SpoolFullError: no space left in .*state while spooling pass 1/);
    expect(full.stderr).not.toMatch(/\n\s+at /); // no stack

    const again = await apply();
    expect(again.code).toBe(0);
    expect((await readFile(target)).equals(await readFile(join(test.dir, 'v.img')))).toBe(true);
  });
});
