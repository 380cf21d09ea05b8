import { randomBytes } from 'node:crypto';
import { BLOCK_SIZE, blockCountFor, bytesOnDisk } from '../../core/blocks.js';

/** What one block of a generated volume holds. */
export type BlockContent = 'hole' | 'zero' | 'random' | 'repeated';

/** Share of each kind in a realistic volume: OS and data files, free space, zeroed and repeated regions. */
export const DEFAULT_MIX: Readonly<Record<BlockContent, number>> = {
  hole: 0.35,
  zero: 0.1,
  random: 0.4,
  repeated: 0.15,
};

export function chooseContent(
  random: () => number,
  mix: Readonly<Record<BlockContent, number>> = DEFAULT_MIX,
): BlockContent {
  let roll = random();
  for (const kind of ['hole', 'zero', 'random', 'repeated'] as const) {
    roll -= mix[kind];
    if (roll < 0) return kind;
  }
  return 'random';
}

/** A small library of blocks that recur (e.g. the same library files in many places). */
export function repeatedBlocks(count = 8): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.alloc(BLOCK_SIZE, `homebound repeated block ${i} `));
}

/** The bytes to write for a block of this kind, trimmed to what lies inside the volume; undefined for a hole. */
export function blockBytes(
  kind: BlockContent,
  index: number,
  sizeBytes: number,
  library: Buffer[],
  random: () => number,
): Buffer | undefined {
  const length = bytesOnDisk(index, sizeBytes);
  switch (kind) {
    case 'hole':
      return undefined;
    case 'zero':
      return Buffer.alloc(length);
    case 'random':
      return randomBytes(length);
    case 'repeated':
      return (library[Math.floor(random() * library.length)] as Buffer).subarray(0, length);
  }
}

/** Picks `share` of the volume's blocks (at least one) to change, without repeats. */
export function pickChangedBlocks(sizeBytes: number, share: number, random: () => number): number[] {
  const total = blockCountFor(sizeBytes);
  const wanted = Math.max(1, Math.round(total * share));
  const picked = new Set<number>();
  while (picked.size < Math.min(wanted, total)) picked.add(Math.floor(random() * total));
  return [...picked].sort((a, b) => a - b);
}
