import type { FileHandle } from 'node:fs/promises';
import type { SnapshotMeta, SnapshotStatus } from './snapshot-records.js';

/**
 * The in-memory side of the snapshot store: records, and how a snapshot's blocks resolve through its lineage.
 * A completed snapshot never changes, so everything derived from it here is computed once and cached on the record.
 */

/** Where a block's bytes live: a slot in the data file of the snapshot that wrote it. */
export interface BlockLocation {
  readonly owner: SnapshotRecord;
  readonly slot: number;
  /** Raw 32-byte SHA-256 of the 512 KiB block. */
  readonly sha256: Buffer;
}

export interface SnapshotRecord {
  meta: SnapshotMeta;
  readonly dir: string;
  readonly parent: SnapshotRecord | undefined;
  /** Loaded from disk rather than created by this process: another process may still move it on. */
  readonly foreign: boolean;
  /** Blocks written in this snapshot. */
  readonly owned: Map<number, BlockLocation>;
  nextSlot: number;
  writer?: FileHandle | undefined;
  /** Settles when the snapshot's directory, data file and meta exist. */
  ready: Promise<void>;
  readonly inflight: Set<Promise<unknown>>;
  resolved?: Map<number, BlockLocation>;
  sortedIndexes?: Uint32Array;
}

/** A stored snapshot as readers see it. */
export interface SnapshotInfo {
  readonly snapshotId: string;
  readonly status: SnapshotStatus;
  readonly volumeId: string;
  readonly volumeSizeGiB: number;
  /** Exact byte size of the source volume (VolumeSize GiB for snapshots written through StartSnapshot). */
  readonly sourceBytes: number;
  readonly parentSnapshotId?: string | undefined;
  readonly description: string;
  readonly startTime: Date;
  readonly completionTime?: Date | undefined;
  readonly tags: Readonly<Record<string, string>>;
  /** Blocks held in this snapshot's own data file; the others are shared with its ancestors. */
  readonly ownedBlockCount: number;
}

/** Attributes of a new snapshot; the store fills in id, status, start time and parent. */
export type NewSnapshot = Omit<SnapshotMeta, 'version' | 'snapshotId' | 'status' | 'startTime' | 'parentSnapshotId'>;

/** A block to store in a pending snapshot. */
export interface OwnedBlockData {
  readonly index: number;
  readonly data: Uint8Array;
  readonly sha256: Buffer;
}

/** What the write API and the image import need from the store; the store hands it to them, no one else holds it. */
export interface SnapshotStoreInternals {
  record(snapshotId: string): Promise<SnapshotRecord>;
  readable(snapshotId: string): Promise<SnapshotRecord>;
  begin(fields: NewSnapshot, parent: SnapshotRecord | undefined, requestFingerprint?: string): SnapshotRecord;
  append(rec: SnapshotRecord, blocks: readonly OwnedBlockData[]): Promise<void>;
  finish(rec: SnapshotRecord): Promise<void>;
  update(rec: SnapshotRecord, changes: Partial<SnapshotMeta>): Promise<void>;
  records(): Iterable<SnapshotRecord>;
  /** Removes a snapshot that failed while being created. */
  discard(rec: SnapshotRecord): Promise<void>;
}

/** One entry of a changed-blocks listing: whether each snapshot holds the block (absent = reads as zeros). */
export interface ChangedBlockEntry {
  readonly index: number;
  readonly inFirst: boolean;
  readonly inSecond: boolean;
}

export function newRecord(
  meta: SnapshotMeta,
  dir: string,
  parent: SnapshotRecord | undefined,
  foreign: boolean,
): SnapshotRecord {
  return { meta, dir, parent, foreign, owned: new Map(), nextSlot: 0, ready: Promise.resolve(), inflight: new Set() };
}

/** Every block a completed snapshot holds: its parent's, overridden by its own. */
export function resolveBlocks(rec: SnapshotRecord): Map<number, BlockLocation> {
  if (!rec.resolved) {
    const resolved = new Map(rec.parent ? resolveBlocks(rec.parent) : undefined);
    for (const [index, location] of rec.owned) resolved.set(index, location);
    rec.resolved = resolved;
  }
  return rec.resolved;
}

/**
 * Where block `index` of a snapshot lives: its own write, else its nearest ancestor's; undefined for a block none of
 * them wrote. Walks the lineage (one map lookup per generation) instead of resolving every block of the volume, so
 * reading a few blocks of a new snapshot costs the same on any volume size.
 */
export function locateBlock(rec: SnapshotRecord, index: number): BlockLocation | undefined {
  if (rec.resolved) return rec.resolved.get(index);
  for (let at: SnapshotRecord | undefined = rec; at; at = at.parent) {
    const location = at.owned.get(index);
    if (location) return location;
  }
  return undefined;
}

/** The resolved block indexes, ascending. */
export function sortedIndexes(rec: SnapshotRecord): Uint32Array {
  rec.sortedIndexes ??= Uint32Array.from(resolveBlocks(rec).keys()).sort();
  return rec.sortedIndexes;
}

/** True when the two snapshots have an ancestor in common (each counts as its own ancestor). */
export function shareLineage(a: SnapshotRecord, b: SnapshotRecord): boolean {
  const ancestors = new Set<SnapshotRecord>();
  for (let rec: SnapshotRecord | undefined = a; rec; rec = rec.parent) ancestors.add(rec);
  for (let rec: SnapshotRecord | undefined = b; rec; rec = rec.parent) if (ancestors.has(rec)) return true;
  return false;
}

/**
 * Blocks whose entry differs between two snapshots (`first` undefined = an empty snapshot), ascending. An entry
 * differs when only one snapshot holds the block or they hold it from different writes — as EBS, which compares
 * written blocks, not bytes.
 */
export function diffBlocks(first: SnapshotRecord | undefined, second: SnapshotRecord): ChangedBlockEntry[] {
  const since = first ? generationsSince(first, second) : undefined;
  if (first && since) {
    // `first` is an ancestor: exactly the blocks written after it differ (each is a later write than any `first`
    // holds), so the diff costs what changed, not what the volume holds.
    const indexes = new Set<number>();
    for (const rec of since) for (const index of rec.owned.keys()) indexes.add(index);
    return Array.from(Uint32Array.from(indexes).sort(), (index) => ({
      index,
      inFirst: locateBlock(first, index) !== undefined,
      inSecond: true,
    }));
  }
  const a = first ? resolveBlocks(first) : new Map<number, BlockLocation>();
  const b = resolveBlocks(second);
  const indexes = new Set([...a.keys(), ...b.keys()]);
  const changed: ChangedBlockEntry[] = [];
  for (const index of Uint32Array.from(indexes).sort()) {
    const inFirst = a.get(index);
    const inSecond = b.get(index);
    if (inFirst?.owner === inSecond?.owner && inFirst?.slot === inSecond?.slot) continue;
    changed.push({ index, inFirst: inFirst !== undefined, inSecond: inSecond !== undefined });
  }
  return changed;
}

/** The snapshots from `second` back to, not including, `first`; undefined when `first` is not an ancestor of (or
 * the same as) `second`. */
function generationsSince(first: SnapshotRecord, second: SnapshotRecord): SnapshotRecord[] | undefined {
  const since: SnapshotRecord[] = [];
  for (let rec: SnapshotRecord | undefined = second; rec; rec = rec.parent) {
    if (rec === first) return since;
    since.push(rec);
  }
  return undefined;
}

/** First position in ascending `items` whose key is >= `key`. */
export function lowerBound<T>(items: ArrayLike<T>, key: number, keyOf: (item: T) => number): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (keyOf(items[mid] as T) < key) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The public view of a record. */
export function infoOf(rec: SnapshotRecord): SnapshotInfo {
  const { meta } = rec;
  return {
    snapshotId: meta.snapshotId,
    status: meta.status,
    volumeId: meta.volumeId,
    volumeSizeGiB: meta.volumeSizeGiB,
    sourceBytes: meta.sourceBytes,
    parentSnapshotId: meta.parentSnapshotId,
    description: meta.description,
    startTime: new Date(meta.startTime),
    completionTime: meta.completionTime === undefined ? undefined : new Date(meta.completionTime),
    tags: { ...meta.tags },
    ownedBlockCount: rec.owned.size,
  };
}
