import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { BLOCK_SIZE, bytesOnDisk, isAllZero } from '../../core/blocks.js';
import { timeCommand } from './baselines.js';
import { pickChangedBlocks } from './volume-generator.js';

/** A seed image and the blocks where it differs from the volume it was made from. */
export interface SeedImage {
  readonly path: string;
  /** Ascending block indexes whose content differs from the volume's (holes count as zeros). */
  readonly differing: readonly number[];
  /** Of those: blocks holding data in the volume that the seed holds as zeros. */
  readonly zeroed: number;
  /** Of those: blocks zero (or a hole) in the volume that the seed holds data in — the seeded pass must zero them. */
  readonly writtenWhereZero: number;
}

/** Of the picked blocks holding data, every this-many-th (the first included) becomes zeros in the seed. */
const ZEROED_EVERY = 4;

/**
 * Makes the disk a seeded failback would start from: a sparse copy of `volume` with `divergencePct` % of its blocks
 * (chosen by `random`, at least one) made to differ, as if the old site went on writing after it lost contact. Of the
 * picked blocks holding data, the first and every fourth after it become zeros, the others new random data; a picked
 * block that is zero or a hole gets random data, which the seeded pass has to turn back into zeros. Every picked
 * block then differs for sure, so `differing` is exactly the set a seeded pass has to carry.
 */
export async function makeSeedImage(
  volume: string,
  seedPath: string,
  sizeBytes: number,
  divergencePct: number,
  random: () => number,
): Promise<SeedImage> {
  await timeCommand('cp', ['--sparse=always', volume, seedPath]);
  const differing = pickChangedBlocks(sizeBytes, divergencePct / 100, random);
  let zeroed = 0;
  let writtenWhereZero = 0;
  let dataBlocks = 0;
  const seed = await open(seedPath, 'r+');
  try {
    for (const index of differing) {
      const length = bytesOnDisk(index, sizeBytes);
      const current = Buffer.alloc(length);
      await seed.read(current, 0, length, index * BLOCK_SIZE);
      let replacement: Buffer;
      if (isAllZero(current)) {
        writtenWhereZero++;
        replacement = randomBytes(length);
      } else if (dataBlocks++ % ZEROED_EVERY === 0) {
        zeroed++;
        replacement = Buffer.alloc(length);
      } else {
        replacement = randomBytes(length);
      }
      await seed.write(replacement, 0, length, index * BLOCK_SIZE);
    }
    await seed.sync();
  } finally {
    await seed.close();
  }
  return { path: seedPath, differing, zeroed, writtenWhereZero };
}
