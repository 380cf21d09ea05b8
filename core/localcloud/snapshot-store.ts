import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCK_SIZE } from '../blocks.js';
import { SnapshotNotFoundError, SnapshotNotReadyError, UnrelatedSnapshotsError } from '../errors.js';
import { validationError } from './errors.js';
import { type CreateFromImageOptions, snapshotImage } from './image-snapshot.js';
import {
  type ChangedBlockEntry,
  diffBlocks,
  infoOf,
  locateBlock,
  lowerBound,
  type NewSnapshot,
  newRecord,
  type OwnedBlockData,
  type SnapshotInfo,
  type SnapshotRecord,
  type SnapshotStoreInternals,
  shareLineage,
  sortedIndexes,
} from './snapshot-lineage.js';
import {
  dataPath,
  indexPath,
  metaPath,
  readIndex,
  readMeta,
  type SnapshotMeta,
  writeIndex,
  writeMeta,
} from './snapshot-records.js';
import {
  type CompleteChecksum,
  completeSnapshot,
  putSnapshotBlock,
  type StartSnapshotParams,
  startSnapshot,
} from './snapshot-writer.js';

export type { CreateFromImageOptions } from './image-snapshot.js';
export type { ChangedBlockEntry, SnapshotInfo } from './snapshot-lineage.js';
export type { SnapshotStatus } from './snapshot-records.js';
export type { CompleteChecksum, StartSnapshotParams } from './snapshot-writer.js';

const SNAPSHOT_ID = /^snap-[0-9a-f]{17}$/;

/**
 * On-disk EBS snapshot store with lineage. A snapshot stores only the blocks written in it; a child resolves every
 * other block through its parent chain, so unchanged data is stored once. Per-block SHA-256 digests are kept so reads
 * never rehash. Safe for concurrent use inside one process; another process that opens the same directory sees
 * completed snapshots (and picks up new ones on first use) but must not write to the same snapshots.
 */
export class SnapshotStore {
  private readonly records = new Map<string, SnapshotRecord>();
  private readonly readers = new Map<SnapshotRecord, Promise<FileHandle>>();
  private readonly diffs = new Map<string, ChangedBlockEntry[]>();
  private readonly internals: SnapshotStoreInternals = {
    record: (id) => this.record(id),
    readable: (id) => this.readable(id),
    begin: (fields, parent, fingerprint) => this.begin(fields, parent, fingerprint),
    append: (rec, blocks) => this.append(rec, blocks),
    finish: (rec) => this.finish(rec),
    update: async (rec, changes) => {
      rec.meta = { ...rec.meta, ...changes };
      await writeMeta(rec.dir, rec.meta);
    },
    records: () => this.records.values(),
    discard: (rec) => this.remove(rec),
  };

  private constructor(private readonly root: string) {}

  /** Opens (creating when absent) the store in `dir`, loading every snapshot persisted there. */
  static async open(dir: string): Promise<SnapshotStore> {
    const store = new SnapshotStore(join(dir, 'snapshots'));
    await mkdir(store.root, { recursive: true });
    await store.rescan();
    return store;
  }

  /** Attributes of a snapshot. Throws SnapshotNotFoundError for an unknown or deleted id. */
  async get(snapshotId: string): Promise<SnapshotInfo> {
    return infoOf(await this.record(snapshotId));
  }

  /** Every live snapshot, oldest first, optionally only those of one volume. */
  async list(filter: { volumeId?: string } = {}): Promise<SnapshotInfo[]> {
    await this.rescan();
    return [...this.records.values()]
      .filter((rec) => !rec.meta.deleted && (filter.volumeId === undefined || rec.meta.volumeId === filter.volumeId))
      .sort((a, b) => a.meta.startTime.localeCompare(b.meta.startTime))
      .map(infoOf);
  }

  /**
   * Indexes of the blocks a completed snapshot holds (its own and inherited), ascending from `startIndex`, at most
   * `limit`. Throws SnapshotNotFoundError, SnapshotNotReadyError.
   */
  async listBlocks(snapshotId: string, startIndex: number, limit: number): Promise<number[]> {
    const sorted = sortedIndexes(await this.readable(snapshotId));
    const from = lowerBound(sorted, startIndex, (index) => index);
    return Array.from(sorted.subarray(from, from + Math.max(0, limit)));
  }

  /**
   * Blocks whose entry differs between `firstId` (an empty snapshot when undefined) and `secondId`, ascending from
   * `startIndex`, at most `limit`. Throws UnrelatedSnapshotsError when the two share no ancestor,
   * SnapshotNotFoundError, SnapshotNotReadyError.
   */
  async changedBlocks(
    firstId: string | undefined,
    secondId: string,
    startIndex: number,
    limit: number,
  ): Promise<ChangedBlockEntry[]> {
    const second = await this.readable(secondId);
    const first = firstId === undefined ? undefined : await this.readable(firstId);
    if (first && !shareLineage(first, second)) throw new UnrelatedSnapshotsError(first.meta.snapshotId, secondId);
    // Completed snapshots never change, so a pair's diff is computed once (a few pairs are kept).
    const key = `${firstId ?? ''}|${secondId}`;
    let diff = this.diffs.get(key);
    if (!diff) {
      diff = diffBlocks(first, second);
      if (this.diffs.size >= 8) this.diffs.clear();
      this.diffs.set(key, diff);
    }
    const from = lowerBound(diff, startIndex, (entry) => entry.index);
    return diff.slice(from, from + Math.max(0, limit));
  }

  /**
   * The 512 KiB of block `index` (zeros for a block never written), read into `into` when given (a caller's reusable
   * buffer of at least BLOCK_SIZE bytes) or a new buffer. Throws like `listBlocks`.
   */
  async readBlock(snapshotId: string, index: number, into?: Buffer): Promise<Buffer> {
    const location = locateBlock(await this.readable(snapshotId), index);
    const data = into ? into.subarray(0, BLOCK_SIZE) : Buffer.allocUnsafe(BLOCK_SIZE);
    if (!location) return data.fill(0);
    const handle = await this.reader(location.owner);
    for (let done = 0; done < BLOCK_SIZE; ) {
      const { bytesRead } = await handle.read(data, done, BLOCK_SIZE - done, location.slot * BLOCK_SIZE + done);
      if (bytesRead === 0) throw new Error(`${dataPath(location.owner.dir)} is truncated at slot ${location.slot}`);
      done += bytesRead;
    }
    return data;
  }

  /** Raw SHA-256 of block `index` from the stored digest; undefined for a block the snapshot does not hold. */
  async blockSha256(snapshotId: string, index: number): Promise<Buffer | undefined> {
    return locateBlock(await this.readable(snapshotId), index)?.sha256;
  }

  /** Bytes this snapshot's own files occupy on disk (sparse-aware); blocks it shares are not counted. */
  async diskUsage(snapshotId: string): Promise<number> {
    const rec = await this.record(snapshotId);
    let total = 0;
    for (const path of [metaPath(rec.dir), indexPath(rec.dir), dataPath(rec.dir)]) {
      total += await stat(path).then(
        (s) => s.blocks * 512,
        () => 0,
      );
    }
    return total;
  }

  /**
   * Emulates EC2 CreateSnapshot of a local volume (an image file, usually sparse), reading it in bounded chunks:
   * without a parent every written block is stored, with one only blocks that differ from it (a block that became
   * zero is stored as zeros). Returns the completed snapshot. Throws VolumeNotFoundError, InvalidInputError (empty
   * image, image smaller than the parent's volume), SnapshotNotFoundError / SnapshotNotReadyError for the parent.
   */
  async createFromImage(imagePath: string, options: CreateFromImageOptions): Promise<SnapshotInfo> {
    return infoOf(await snapshotImage(this.internals, imagePath, options));
  }

  /**
   * StartSnapshot: a pending snapshot for the EBS write API. The same `clientToken` with the same parameters returns
   * the snapshot it started; with different parameters it throws ConflictException (EbsApiError). Also throws
   * ValidationException (volume size, timeout), SnapshotNotFoundError / SnapshotNotReadyError for the parent.
   * @default timeoutMinutes 60, description ''
   */
  async start(params: StartSnapshotParams): Promise<SnapshotInfo> {
    return infoOf(await startSnapshot(this.internals, params));
  }

  /**
   * PutSnapshotBlock: writes 512 KiB at `index` of a pending snapshot; returns the data's raw SHA-256. When
   * `checksumBase64` is given it must match (else ValidationException INVALID_BLOCK). Throws ValidationException for
   * a snapshot that is not pending, a bad index or length; SnapshotNotFoundError.
   */
  async putBlock(snapshotId: string, index: number, data: Uint8Array, checksumBase64?: string): Promise<Buffer> {
    return putSnapshotBlock(this.internals, snapshotId, index, data, checksumBase64);
  }

  /**
   * CompleteSnapshot: checks `changedBlocksCount` (distinct blocks put) and the optional LINEAR checksum, then marks
   * the snapshot completed. Completing a completed snapshot again returns 'completed'. Throws ValidationException.
   */
  async complete(
    snapshotId: string,
    changedBlocksCount: number,
    checksum: CompleteChecksum = {},
  ): Promise<'completed'> {
    return completeSnapshot(this.internals, snapshotId, changedBlocksCount, checksum);
  }

  /**
   * Deletes a snapshot. One whose blocks children still share is hidden (reads fail with SnapshotNotFoundError) and
   * its files are kept until its last child is deleted, as EBS keeps referenced data. Throws SnapshotNotFoundError.
   */
  async delete(snapshotId: string): Promise<void> {
    await this.rescan();
    const rec = await this.record(snapshotId);
    await Promise.all(rec.inflight);
    if (this.hasChildren(rec)) await this.internals.update(rec, { deleted: true });
    else await this.remove(rec);
  }

  /** Closes every open file handle. The store must not be used afterwards. */
  async close(): Promise<void> {
    const handles = [...this.readers.values()];
    this.readers.clear();
    await Promise.all(handles.map(async (handle) => (await handle).close()));
    await Promise.all([...this.records.values()].map((rec) => rec.writer?.close()));
  }

  private async record(snapshotId: string): Promise<SnapshotRecord> {
    let rec = this.records.get(snapshotId);
    if (!rec || (rec.foreign && rec.meta.status === 'pending')) rec = (await this.load(snapshotId)) ?? rec;
    if (!rec || rec.meta.deleted) throw new SnapshotNotFoundError(snapshotId);
    return rec;
  }

  private async readable(snapshotId: string): Promise<SnapshotRecord> {
    const rec = await this.record(snapshotId);
    if (rec.meta.status !== 'completed') throw new SnapshotNotReadyError(snapshotId, rec.meta.status);
    return rec;
  }

  // The record exists (and blocks the id and client token) at once; its files exist once `ready` settles.
  private begin(fields: NewSnapshot, parent: SnapshotRecord | undefined, requestFingerprint?: string): SnapshotRecord {
    const snapshotId = `snap-${randomBytes(9).toString('hex').slice(0, 17)}`;
    const meta: SnapshotMeta = {
      version: 1,
      snapshotId,
      status: 'pending',
      startTime: new Date().toISOString(),
      ...fields,
      ...(parent ? { parentSnapshotId: parent.meta.snapshotId } : {}),
      ...(requestFingerprint === undefined ? {} : { requestFingerprint }),
    };
    const rec = newRecord(meta, join(this.root, snapshotId), parent, false);
    rec.ready = (async () => {
      await mkdir(rec.dir, { recursive: true });
      rec.writer = await open(dataPath(rec.dir), 'w+');
      await writeMeta(rec.dir, rec.meta);
    })();
    this.records.set(snapshotId, rec);
    return rec;
  }

  // Appends blocks to the snapshot's data file in one positional write; they count once the write is done.
  private async append(rec: SnapshotRecord, blocks: readonly OwnedBlockData[]): Promise<void> {
    const { writer } = rec;
    if (!writer) throw validationError('INVALID_SNAPSHOT_ID', `snapshot ${rec.meta.snapshotId} is not writable here`);
    const first = rec.nextSlot;
    rec.nextSlot += blocks.length;
    const buffers = blocks.map((block) => block.data);
    const { bytesWritten } = await writer.writev(buffers, first * BLOCK_SIZE);
    if (bytesWritten !== blocks.length * BLOCK_SIZE) throw new Error(`short write to ${dataPath(rec.dir)}`);
    blocks.forEach((block, i) => {
      rec.owned.set(block.index, { owner: rec, slot: first + i, sha256: block.sha256 });
    });
  }

  // The index is written before the status flips, so a completed snapshot on disk always has its index.
  private async finish(rec: SnapshotRecord): Promise<void> {
    await Promise.all(rec.inflight);
    await rec.writer?.close();
    rec.writer = undefined;
    await writeIndex(
      rec.dir,
      [...rec.owned].map(([index, { slot, sha256 }]) => ({ index, slot, sha256 })),
    );
    await this.internals.update(rec, { status: 'completed', completionTime: new Date().toISOString() });
  }

  private async rescan(): Promise<void> {
    for (const name of await readdir(this.root)) {
      if (SNAPSHOT_ID.test(name) && !this.records.has(name)) await this.load(name);
    }
  }

  private async load(snapshotId: string): Promise<SnapshotRecord | undefined> {
    if (!SNAPSHOT_ID.test(snapshotId)) return undefined; // never a path outside the store
    const dir = join(this.root, snapshotId);
    const meta = await readMeta(dir).catch(() => undefined); // absent or unreadable: not a snapshot (yet)
    if (!meta) return undefined;
    const parentId = meta.parentSnapshotId;
    const parent = parentId === undefined ? undefined : (this.records.get(parentId) ?? (await this.load(parentId)));
    const rec = newRecord(meta, dir, parent, true);
    for (const block of await readIndex(dir)) {
      rec.owned.set(block.index, { owner: rec, slot: block.slot, sha256: block.sha256 });
      rec.nextSlot = Math.max(rec.nextSlot, block.slot + 1);
    }
    this.records.set(snapshotId, rec);
    return rec;
  }

  private hasChildren(rec: SnapshotRecord): boolean {
    return [...this.records.values()].some((other) => other.parent === rec);
  }

  private async remove(rec: SnapshotRecord): Promise<void> {
    await rec.ready.catch(() => undefined);
    await rec.writer?.close();
    rec.writer = undefined;
    const reader = this.readers.get(rec);
    this.readers.delete(rec);
    await (await reader)?.close();
    this.records.delete(rec.meta.snapshotId);
    this.diffs.clear();
    await rm(rec.dir, { recursive: true, force: true });
    if (rec.parent?.meta.deleted && !this.hasChildren(rec.parent)) await this.remove(rec.parent);
  }

  private reader(rec: SnapshotRecord): Promise<FileHandle> {
    let handle = this.readers.get(rec);
    if (!handle) {
      handle = open(dataPath(rec.dir), 'r');
      this.readers.set(rec, handle);
    }
    return handle;
  }
}
