import { isAllZero } from '../blocks.js';
import { CorruptSegmentError, WorkCancelledError } from '../errors.js';
import type { BlockRef, BlockSource, Staging } from '../ports.js';
import { type ReadCounters, type RetryPolicy, readVerifiedBlock, type VerifiedBlock } from './block-reader.js';
import { segmentBuffers } from './buffer-pool.js';
import { passPrefix, segmentKey, shardPlanKey, shardRecordKey, shardSegmentsPrefix } from './layout.js';
import { type PassPlan, parseStagedJson, type SegmentRecord, ShardPlan, type ShardRecord } from './manifest.js';
import type { RateGovernor } from './rate-governor.js';
import { SEED_HASH_BYTES } from './seed.js';
import { type EncodedSegment, encodeDigestedSegment, SegmentBuffer, segmentSize } from './segment.js';
import { Semaphore } from './semaphore.js';

export interface StreamShardOptions {
  readonly source: BlockSource;
  readonly staging: Staging;
  readonly governor: RateGovernor;
  readonly counters: ReadCounters;
  readonly retry?: RetryPolicy;
  /** Blocks read ahead of the oldest segment not yet staged; bounds memory at ~readAheadBlocks × 512 KiB. @default 128 */
  readonly readAheadBlocks?: number;
  /** Stop starting new segments after this instant (epoch ms) and return a cursor. */
  readonly deadline?: number;
  /** The shard was planned just now by this caller, so nothing of it can be staged yet: skip looking. */
  readonly fresh?: boolean;
  /** The shard's refs when the caller holds them (it listed the pass itself): skips reading them from staging. */
  readonly shard?: ShardPlan;
  /** Stage shards/NNNN.json once the shard is done, for a finalizer that runs elsewhere. A caller that seals the
   * pass itself from the returned records can skip it. @default true */
  readonly writeRecord?: boolean;
  /** Called after each staged segment. */
  readonly onSegment?: (record: SegmentRecord) => void;
  /** Aborts the shard: no read starts after it, reads in flight are cut, and the call rejects with
   * WorkCancelledError. What is staged stays staged, so a later call resumes from it. */
  readonly signal?: AbortSignal;
}

export interface ShardResult {
  readonly shardId: number;
  /** True when every segment of the shard is staged; otherwise call again to continue. */
  readonly done: boolean;
  readonly segments: SegmentRecord[];
  readonly bytesStaged: number;
}

const UPLOADS_IN_FLIGHT = 3;

/** Object metadata that lets a resumed streamer account for segments an earlier invocation staged. */
const META_INDEX_SHA = 'index-sha256';
const META_ENTRIES = 'entries';
const META_DATA = 'data-blocks';
const META_FIRST = 'first-index';
const META_LAST = 'last-index';

/**
 * Streams one shard of a planned pass: reads its blocks with bounded, governed concurrency, verifies every block,
 * and stages them as delta segments. Segment k of a shard always covers the same refs, so a call that finds
 * segments already staged (an earlier invocation ran out of time) skips them: the shard resumes from its cursor.
 * Zero blocks are left out of a full pass (the applier blanks the target first) and carried as zero entries in an
 * incremental pass (the block became zero). A seeded pass carries only the blocks whose SHA-256 differs from the
 * seed's (the shard plan's `seedSha256`): data, or a zero entry where the snapshot has zeros and the seed does not.
 * @throws CorruptSegmentError for a seeded shard plan without one seed hash per ref.
 */
export async function streamShard(plan: PassPlan, shardId: number, options: StreamShardOptions): Promise<ShardResult> {
  const { staging } = options;
  const prefix = passPrefix(plan.volumeKey, plan.passNumber);
  const shardKey = prefix + shardPlanKey(shardId);
  const shard = options.shard ?? parseStagedJson(ShardPlan, await staging.get(shardKey), shardKey);
  if (shard.shardId !== shardId) throw new Error(`shard ${shard.shardId} given for shard ${shardId}`);
  const refs: BlockRef[] = shard.blocks.map(([index, token]) => ({ index, token: token ?? undefined }));
  const seedHashes = plan.kind === 'seeded' ? seedHashesOf(shard, shardKey) : undefined;
  /** The blocks of segment `sequence` the pass carries. */
  const carriedOf = (sequence: number, blocks: VerifiedBlock[]) => {
    if (plan.kind === 'full') return blocks.filter((block) => !isAllZero(block.data));
    if (!seedHashes) return blocks;
    const first = sequence * plan.segmentBlocks;
    return blocks.filter((block, i) => {
      const at = (first + i) * SEED_HASH_BYTES;
      return !block.sha256.equals(seedHashes.subarray(at, at + SEED_HASH_BYTES));
    });
  };
  const readAhead = Math.max(options.readAheadBlocks ?? 128, plan.segmentBlocks * 2);

  const segmentCount = Math.ceil(refs.length / plan.segmentBlocks);
  const staged = options.fresh ? new Map<string, SegmentRecord>() : await stagedSegments(staging, prefix, shardId);
  const records: SegmentRecord[] = [];
  const window = new Semaphore(readAhead);
  const uploads = new Semaphore(UPLOADS_IN_FLIGHT);
  const inFlight: Promise<void>[] = [];
  let bytesStaged = 0;
  let cursor = 0;
  let abort: unknown;

  // Start reads for every segment still to stage; the FIFO window keeps them flowing in index order and bounds
  // how far reading runs ahead of staging.
  // Each segment's blocks are read straight into the buffer it is then encoded in.
  const reads = new Map<number, { into: SegmentBuffer; blocks: Promise<VerifiedBlock[]> }>();
  const startReads = (sequence: number) => {
    const slice = refs.slice(sequence * plan.segmentBlocks, (sequence + 1) * plan.segmentBlocks);
    const into = new SegmentBuffer(slice.length);
    const blocks = slice.map(async (ref, i) => {
      await window.acquire();
      if (abort) throw abort;
      const { source, governor, counters, retry, signal } = options;
      return readVerifiedBlock(source, governor, plan.snapshotId, ref, counters, retry, into.slot(i), signal);
    });
    const all = Promise.all(blocks);
    all.catch((error) => {
      abort ??= error;
    });
    reads.set(sequence, { into, blocks: all });
  };

  // Reads still waiting for a window slot look at `abort` once they get one: set it at once, so none starts late.
  const onAbort = () => {
    abort ??= new WorkCancelledError(`streaming shard ${shardId} of ${plan.snapshotId}`, options.signal?.reason);
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (; cursor < segmentCount; cursor++) {
      if (options.signal?.aborted) throw abort;
      const existing = staged.get(segmentKey(shardId, cursor));
      if (existing) {
        records.push(existing);
        continue;
      }
      if (options.deadline !== undefined && Date.now() > options.deadline) break;
      // Keep a few segments' reads in flight beyond the one being staged.
      for (
        let ahead = cursor;
        ahead < segmentCount && ahead <= cursor + Math.ceil(readAhead / plan.segmentBlocks);
        ahead++
      ) {
        if (!reads.has(ahead) && !staged.has(segmentKey(shardId, ahead))) startReads(ahead);
      }
      const pending = reads.get(cursor);
      if (!pending) continue;
      const blocks = await pending.blocks;
      reads.delete(cursor);
      const carried = carriedOf(cursor, blocks);
      const segment = encodeDigestedSegment(carried, pending.into);
      const body = segment.body;
      window.release(blocks.length);
      const record = recordFor(shardId, cursor, segment, carried);
      // Upload while the next segment is read; at most UPLOADS_IN_FLIGHT bodies wait in memory.
      await uploads.acquire();
      const upload = staging
        .put(
          prefix + record.key,
          body,
          {
            [META_INDEX_SHA]: record.indexSha256,
            [META_ENTRIES]: String(record.entries),
            [META_DATA]: String(record.dataBlocks),
            [META_FIRST]: String(record.firstIndex),
            [META_LAST]: String(record.lastIndex),
          },
          // The applier checks every segment end to end (index digest from the manifest, every block), so S3 need not
          // hash the body again.
          { unsignedPayload: true },
        )
        .then(() => {
          bytesStaged += body.length;
          // Staged: nothing reads the segment's buffer any more, so the next segment may reuse it.
          segmentBuffers.release(body);
          options.onSegment?.(record);
        })
        .finally(() => uploads.release());
      upload.catch((error) => {
        abort ??= error;
      });
      inFlight.push(upload);
      records.push(record);
    }
    await Promise.all(inFlight);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    abort ??= new Error('streaming stopped');
    for (const pending of reads.values()) pending.blocks.catch(() => undefined);
  }
  const done = cursor >= segmentCount;
  if (done && options.writeRecord !== false) {
    const record: ShardRecord = { shardId, segments: records };
    await staging.put(prefix + shardRecordKey(shardId), Buffer.from(JSON.stringify(record)));
  }
  return { shardId, done, segments: records, bytesStaged };
}

/** A seeded shard's seed hashes, one per ref. */
function seedHashesOf(shard: ShardPlan, key: string): Buffer {
  const hashes = Buffer.from(shard.seedSha256 ?? '', 'base64');
  if (hashes.length !== shard.blocks.length * SEED_HASH_BYTES) {
    throw new CorruptSegmentError(
      key,
      `a seeded shard needs ${shard.blocks.length} seed hashes, its seedSha256 holds ${hashes.length / SEED_HASH_BYTES}`,
    );
  }
  return hashes;
}

function recordFor(
  shardId: number,
  sequence: number,
  segment: EncodedSegment,
  blocks: readonly VerifiedBlock[],
): SegmentRecord {
  const expected = segmentSize(blocks.length, segment.dataBlocks);
  if (expected !== segment.body.length) throw new Error(`segment size ${segment.body.length} != ${expected}`);
  return {
    key: segmentKey(shardId, sequence),
    indexSha256: segment.indexSha256,
    bytes: segment.body.length,
    entries: blocks.length,
    dataBlocks: segment.dataBlocks,
    firstIndex: blocks[0]?.blockIndex ?? 0,
    lastIndex: blocks[blocks.length - 1]?.blockIndex ?? 0,
  };
}

/** Segments of this shard that an earlier invocation already staged, rebuilt from their object metadata. */
async function stagedSegments(staging: Staging, prefix: string, shardId: number): Promise<Map<string, SegmentRecord>> {
  const found = new Map<string, SegmentRecord>();
  for (const fullKey of await staging.list(prefix + shardSegmentsPrefix(shardId))) {
    const info = await staging.head(fullKey);
    const meta = info?.metadata ?? {};
    const key = fullKey.slice(prefix.length);
    const sha = meta[META_INDEX_SHA];
    if (!info || !sha) continue;
    found.set(key, {
      key,
      indexSha256: sha,
      bytes: info.size,
      entries: Number(meta[META_ENTRIES]),
      dataBlocks: Number(meta[META_DATA]),
      firstIndex: Number(meta[META_FIRST]),
      lastIndex: Number(meta[META_LAST]),
    });
  }
  return found;
}
