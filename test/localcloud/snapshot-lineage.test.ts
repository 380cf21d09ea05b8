import { describe, expect, it } from 'vitest';
import {
  type BlockLocation,
  diffBlocks,
  locateBlock,
  newRecord,
  resolveBlocks,
  type SnapshotRecord,
} from '../../core/localcloud/snapshot-lineage.js';
import type { SnapshotMeta } from '../../core/localcloud/snapshot-records.js';

const DIGEST = Buffer.alloc(32);

function snapshot(id: string, parent: SnapshotRecord | undefined, indexes: readonly number[]): SnapshotRecord {
  const meta = { snapshotId: id, status: 'completed' } as SnapshotMeta;
  const rec = newRecord(meta, `/nowhere/${id}`, parent, false);
  indexes.forEach((index, slot) => {
    rec.owned.set(index, { owner: rec, slot, sha256: DIGEST });
  });
  return rec;
}

/** A volume's worth of blocks whose map refuses to be walked: listing them all is what must not happen. */
function unwalkable(rec: SnapshotRecord): SnapshotRecord {
  const refuse = () => {
    throw new Error(`walked every block of ${rec.meta.snapshotId}`);
  };
  const owned = rec.owned as Map<number, BlockLocation>;
  for (const method of ['keys', 'values', 'entries', 'forEach', Symbol.iterator] as const)
    Object.defineProperty(owned, method, { value: refuse });
  return rec;
}

describe('snapshot lineage', () => {
  const volumeBlocks = Array.from({ length: 4096 }, (_, index) => index);

  it('lists what changed since an ancestor without walking the blocks the ancestor holds', () => {
    const base = unwalkable(snapshot('snap-base', undefined, volumeBlocks));
    const middle = snapshot('snap-middle', base, [7, 4000]);
    const latest = snapshot('snap-latest', middle, [7, 12, 5000]);

    expect(diffBlocks(base, latest)).toEqual([
      { index: 7, inFirst: true, inSecond: true },
      { index: 12, inFirst: true, inSecond: true },
      { index: 4000, inFirst: true, inSecond: true },
      { index: 5000, inFirst: false, inSecond: true },
    ]);
    expect(diffBlocks(latest, latest)).toEqual([]);
  });

  it('gives the same diff as comparing both volumes whole', () => {
    const base = snapshot('snap-base', undefined, [0, 1, 2, 3, 9]);
    const middle = snapshot('snap-middle', base, [1, 10]);
    const latest = snapshot('snap-latest', middle, [3, 10, 11]);
    const whole = (first: SnapshotRecord, second: SnapshotRecord) => {
      const a = resolveBlocks(first);
      const b = resolveBlocks(second);
      return [...new Set([...a.keys(), ...b.keys()])]
        .sort((x, y) => x - y)
        .filter((index) => a.get(index) !== b.get(index))
        .map((index) => ({ index, inFirst: a.has(index), inSecond: b.has(index) }));
    };

    expect(diffBlocks(base, latest)).toEqual(whole(base, latest));
    expect(diffBlocks(middle, latest)).toEqual(whole(middle, latest));
  });

  it('finds a block of a new snapshot through its lineage, without resolving the whole volume', () => {
    const base = unwalkable(snapshot('snap-base', undefined, volumeBlocks));
    const latest = snapshot('snap-latest', base, [12]);

    expect(locateBlock(latest, 12)?.owner).toBe(latest);
    expect(locateBlock(latest, 13)?.owner).toBe(base);
    expect(locateBlock(latest, 9999)).toBeUndefined();
    expect(latest.resolved).toBeUndefined();
  });
});
