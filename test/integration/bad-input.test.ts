import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { snapshotVolume } from '../../core/localcloud/local-volume.js';
import { runCli } from '../support/cli.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume, syncOnce } from '../support/volumes.js';

describe('bad input gets a named error, a non-zero exit and nothing written', () => {
  let test: TestCloud;
  let first: string;
  let other: string;
  const size = 8 * BLOCK_SIZE;

  beforeAll(async () => {
    test = await startTestCloud();
    await makeVolume(join(test.dir, 'a.img'), size, { 0: 'random', 5: 'random' });
    await makeVolume(join(test.dir, 'b.img'), size, { 1: 'random' });
    first = (await snapshotVolume(test.cloud.store, join(test.dir, 'a.img'))).snapshotId;
    other = (await snapshotVolume(test.cloud.store, join(test.dir, 'b.img'))).snapshotId;
    await syncOnce(test, join(test.dir, 'a.img'), join(test.dir, 'seed-target.img'), {
      passNumber: 1,
      sizeBytes: size,
      volumeKey: 'good',
    });
  });
  afterAll(() => test.stop());

  const cli = (args: string[]) => runCli(args, test.cloud.env());

  const stream = (extra: string[]) => [
    'stream',
    '--bucket',
    STAGING_BUCKET,
    '--volume-key',
    'bad',
    '--pass',
    '1',
    ...extra,
  ];
  const apply = (target: string, extra: string[] = []) => [
    'apply',
    '--bucket',
    STAGING_BUCKET,
    '--prefix',
    'runs/test/',
    '--volume-key',
    'good',
    '--target',
    target,
    '--state-dir',
    join(test.dir, `st-${Math.random()}`),
    ...extra,
  ];

  it('a snapshot that does not exist', async () => {
    const result = await cli(stream(['--snapshot', 'snap-0123456789abcdef0']));
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/SnapshotNotFoundError: snapshot snap-0123456789abcdef0 does not exist/);
  });

  it('unrelated snapshots for an incremental pass', async () => {
    const result = await cli(stream(['--snapshot', other, '--base-snapshot', first]));
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(new RegExp(`UnrelatedSnapshotsError: snapshots ${first} and ${other} are unrelated`));
  });

  it('a staging bucket that does not exist', async () => {
    const result = await cli([
      'stream',
      '--bucket',
      'no-such-bucket',
      '--volume-key',
      'bad',
      '--pass',
      '1',
      '--snapshot',
      first,
    ]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/StagingBucketNotFoundError: staging bucket no-such-bucket/);
  });

  it('a volume that does not exist', async () => {
    await expect(snapshotVolume(test.cloud.store, join(test.dir, 'missing.img'))).rejects.toThrow(
      /volume .*missing\.img does not exist/,
    );
  });

  it('a target smaller than the source, left untouched', async () => {
    const target = join(test.dir, 'small.img');
    const result = await cli(apply(target, ['--create-size', String(size - 1)]));
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(
      /TargetTooSmallError: target .*small\.img holds \d+ bytes but the source volume is \d+ bytes/,
    );
    expect((await readFile(target)).equals(Buffer.alloc(size - 1))).toBe(true);
  });

  it('a target path that cannot be opened', async () => {
    const dirAsTarget = join(test.dir, 'a-directory');
    await mkdir(dirAsTarget);
    const missing = await cli(apply(join(test.dir, 'nope', 'disk.img')));
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/TargetUnavailableError: target .*nope\/disk\.img cannot be opened: no such file/);
    const directory = await cli(apply(dirAsTarget));
    expect(directory.code).toBe(3);
    expect(directory.stderr).toMatch(/TargetUnavailableError: target .*a-directory cannot be opened/);
    expect((await stat(dirAsTarget)).isDirectory()).toBe(true);
  });

  it('a bad option value names the option', async () => {
    const result = await cli([
      'stream',
      '--bucket',
      STAGING_BUCKET,
      '--volume-key',
      'x',
      '--pass',
      'zero',
      '--snapshot',
      first,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--pass.*whole number/);
  });
});
