import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume, readBlockOf, sameImage, syncOnce, writeBlock } from '../support/volumes.js';

describe('passes through the local cloud', () => {
  let test: TestCloud;
  beforeAll(async () => {
    test = await startTestCloud();
  });
  afterAll(() => test.stop());

  it('a full pass and two incremental passes leave the target byte-identical, size not a multiple of 512 KiB', async () => {
    const sizeBytes = 40 * BLOCK_SIZE + 12_345;
    const volume = join(test.dir, 'odd.img');
    const target = join(test.dir, 'odd-target.img');
    const pass = { sizeBytes, volumeKey: 'odd' };
    await makeVolume(volume, sizeBytes, {
      0: 'random',
      1: 'random',
      3: 'zero',
      7: 0x5a,
      8: 0x5a,
      20: 'random',
      40: 'random',
    });

    const full = await syncOnce(test, volume, target, { ...pass, passNumber: 1 });
    expect(await sameImage(volume, target)).toBe(true);

    await writeBlock(volume, sizeBytes, 1, 'random');
    await writeBlock(volume, sizeBytes, 7, 'zero');
    await writeBlock(volume, sizeBytes, 33, 'random');
    await writeBlock(volume, sizeBytes, 40, 'random');
    const second = await syncOnce(test, volume, target, { ...pass, passNumber: 2, base: full.snapshotId });
    expect(await sameImage(volume, target)).toBe(true);

    await writeBlock(volume, sizeBytes, 0, 'zero');
    await writeBlock(volume, sizeBytes, 39, 'random');
    await syncOnce(test, volume, target, { ...pass, passNumber: 3, base: second.snapshotId });
    expect(await sameImage(volume, target)).toBe(true);
  });

  it('an incremental pass reads and stages exactly the changed blocks, with at most 1% metadata on top', async () => {
    const sizeBytes = 64 * BLOCK_SIZE;
    const volume = join(test.dir, 'inc.img');
    const target = join(test.dir, 'inc-target.img');
    const blocks = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [i, 'random' as const]));
    await makeVolume(volume, sizeBytes, blocks);
    const full = await syncOnce(test, volume, target, { sizeBytes, volumeKey: 'inc', passNumber: 1 });

    for (const index of [2, 9, 10, 31, 50]) await writeBlock(volume, sizeBytes, index, 'random');
    await writeBlock(volume, sizeBytes, 60, 'zero');
    const { stream } = await syncOnce(test, volume, target, {
      sizeBytes,
      volumeKey: 'inc',
      passNumber: 2,
      base: full.snapshotId,
    });

    expect(stream.manifest.blocksListed).toBe(6);
    expect(stream.counters.bytesRead).toBe(6 * BLOCK_SIZE);
    expect(stream.blockCalls).toBe(6);
    const payload = 5 * BLOCK_SIZE; // the zero block carries no payload
    expect(stream.bytesStaged).toBeGreaterThanOrEqual(payload);
    expect(stream.bytesStaged).toBeLessThanOrEqual(payload * 1.01);
    expect(await sameImage(volume, target)).toBe(true);
  });

  it('zero blocks cost no data bytes in a full pass, and a block that became zero arrives as zeros', async () => {
    const sizeBytes = 16 * BLOCK_SIZE;
    const volume = join(test.dir, 'zero.img');
    const target = join(test.dir, 'zero-target.img');
    await makeVolume(volume, sizeBytes, { 0: 'random', 1: 'zero', 2: 'zero', 3: 'zero', 4: 0x11 });
    const full = await syncOnce(test, volume, target, { sizeBytes, volumeKey: 'zero', passNumber: 1 });

    expect(full.stream.manifest.blocksListed).toBe(5);
    expect(full.stream.manifest.zeroBlocksSkipped).toBe(3);
    const segmentBytes = full.stream.manifest.segments.reduce((sum, s) => sum + s.bytes, 0);
    expect(segmentBytes).toBeLessThan(2 * BLOCK_SIZE + 4096);

    await writeBlock(volume, sizeBytes, 4, 'zero');
    const second = await syncOnce(test, volume, target, {
      sizeBytes,
      volumeKey: 'zero',
      passNumber: 2,
      base: full.snapshotId,
    });
    expect(second.stream.manifest.zeroBlocks).toBe(1);
    expect((await readBlockOf(target, 4)).equals(Buffer.alloc(BLOCK_SIZE))).toBe(true);
    expect(await sameImage(volume, target)).toBe(true);
  });
});
