import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import { BLOCK_SIZE } from '../../core/blocks.js';
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

  it('writes aligned blocks around the page cache (O_DIRECT) and anything else through it, reading back every byte', async () => {
    const dir = await tempDir();
    const path = join(dir.dir, 'disk.img');
    const target = await openFileTarget(path, { createWithSize: 4 * BLOCK_SIZE });
    if ((await statfs(dir.dir)).type !== EXT4_MAGIC) return expect.unreachable('this test needs ext4 (O_DIRECT)');
    // The target holds a second descriptor on the image, opened O_DIRECT (flags in /proc are octal).
    expect(await openFlags(path)).toContainEqual(expect.objectContaining({ direct: true }));

    const blocks = [randomBytes(BLOCK_SIZE), randomBytes(BLOCK_SIZE)];
    // A segment's block sits at no particular alignment: copied into an aligned buffer on the way.
    const unaligned = Buffer.concat([Buffer.alloc(80), blocks[0] as Buffer]).subarray(80);
    await target.write(unaligned, 0);
    await target.write(blocks[1] as Buffer, 3 * BLOCK_SIZE);
    // A partial last block (any length) and an odd offset go through the page cache, over bytes written directly.
    const tail = randomBytes(1_000);
    await target.write(tail, 3 * BLOCK_SIZE + 100);
    await target.sync();

    const expected = Buffer.alloc(4 * BLOCK_SIZE);
    (blocks[0] as Buffer).copy(expected, 0);
    (blocks[1] as Buffer).copy(expected, 3 * BLOCK_SIZE);
    tail.copy(expected, 3 * BLOCK_SIZE + 100);
    expect((await target.read(4 * BLOCK_SIZE, 0)).equals(expected)).toBe(true);
    expect((await readFile(path)).equals(expected)).toBe(true);
    await target.close();
    // Both descriptors are closed.
    expect(await openFlags(path)).toEqual([]);
    await dir.cleanup();
  });

  it('writes every byte to a tmpfs image, whether or not the kernel opens tmpfs O_DIRECT', async () => {
    // tmpfs takes O_DIRECT on newer kernels (this machine's 6.18 does), refuses it on older ones: either way every
    // byte lands. (The fallback after a refused direct write is not reached on this machine.)
    const dir = await mkdtemp('/dev/shm/hb-target-');
    const path = join(dir, 'disk.img');
    const target = await openFileTarget(path, { createWithSize: 2 * BLOCK_SIZE });
    const block = randomBytes(BLOCK_SIZE);
    await target.write(block, BLOCK_SIZE);
    await target.sync();
    expect((await readFile(path)).subarray(BLOCK_SIZE).equals(block)).toBe(true);
    await target.close();
    await rm(dir, { recursive: true, force: true });
  });
});

/** The descriptors this process holds on `path`, and whether each is O_DIRECT. */
async function openFlags(path: string): Promise<{ fd: number; direct: boolean }[]> {
  const found: { fd: number; direct: boolean }[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const link = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (link !== path) continue;
    const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8');
    const flags = Number.parseInt(/flags:\s*([0-7]+)/.exec(info)?.[1] ?? '0', 8);
    found.push({ fd: Number(fd), direct: (flags & constants.O_DIRECT) !== 0 });
  }
  return found;
}
