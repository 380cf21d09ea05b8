import { readdir, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import { TargetUnavailableError } from '../../core/errors.js';
import { tempDir } from '../localcloud/helpers.js';

/** statfs f_type of ext4 (and ext2/3). */
const EXT4_MAGIC = 0xef53;

describe('file target', () => {
  it('creates a missing image once when two openers race for it, both ending with the same sparse image', async () => {
    const dir = await tempDir();
    const path = join(dir.dir, 'disk.img');
    const size = 8 * 1024 * 1024;

    // An agent's retried PrepareTarget can race the original task: before, the second create failed with EEXIST.
    const targets = await Promise.all(Array.from({ length: 4 }, () => openFileTarget(path, { createWithSize: size })));

    expect(targets.map((target) => target.sizeBytes)).toEqual([size, size, size, size]);
    expect((await stat(path)).size).toBe(size);
    await Promise.all(targets.map((target) => target.close()));
    await dir.cleanup();
  });

  it('never leaves a short image at the path when growing it fails: nothing there, so a retry creates it whole', async () => {
    const dir = await tempDir();
    const path = join(dir.dir, 'disk.img');
    // Beyond what ext4 holds in one file: the grow fails as a crash between create and grow would leave it.
    const tooBig = 2 ** 50;
    if ((await statfs(dir.dir)).type !== EXT4_MAGIC) return expect.unreachable('this test needs ext4 (EFBIG)');

    await expect(openFileTarget(path, { createWithSize: tooBig })).rejects.toThrow(TargetUnavailableError);

    // Before, a 0-byte disk.img stayed, and the retry refused it as a disk too small for its volume.
    expect(await readdir(dir.dir)).toEqual([]);
    const target = await openFileTarget(path, { createWithSize: 8 * 1024 * 1024 });
    expect(target.sizeBytes).toBe(8 * 1024 * 1024);
    await target.close();
    await dir.cleanup();
  });

  it('never leaves a short image at the path: a crash mid-create leaves only a hidden temp, and the next open creates it whole', async () => {
    const dir = await tempDir();
    const path = join(dir.dir, 'disk.img');
    const size = 8 * 1024 * 1024;
    // What a SIGKILL between create and grow leaves now: a hidden temp, not a 0-byte disk.img.
    const leftover = join(dir.dir, '.disk.img.4242.deadbeef.creating');
    await writeFile(leftover, '');

    const target = await openFileTarget(path, { createWithSize: size });

    expect(target.sizeBytes).toBe(size);
    expect((await stat(path)).size).toBe(size);
    // Its own temp is gone; only the dead creator's stays (a later clean-up may remove it).
    expect((await readdir(dir.dir)).sort()).toEqual(['.disk.img.4242.deadbeef.creating', 'disk.img']);
    await target.close();
    await dir.cleanup();
  });
});
