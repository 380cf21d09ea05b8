import { InvalidInputError, StagedObjectMissingError } from '../errors.js';
import type { BlockSource, GetOptions, PutOptions, Staging } from '../ports.js';
import { newReadCounters, type ReadCounters, type RetryPolicy } from './block-reader.js';
import { MANIFEST_KEY, PLAN_KEY, passPrefix, shardRecordKey } from './layout.js';
import {
  MANIFEST_FORMAT,
  manifestDigest,
  type PassManifest,
  PassPlan,
  parseStagedJson,
  type SegmentRecord,
  ShardRecord,
} from './manifest.js';
import { listPass, type PlanPassRequest } from './planner.js';
import { type GovernorStats, RateGovernor, type RateGovernorOptions } from './rate-governor.js';
import { type ShardResult, streamShard } from './streamer.js';

/** Reads plan.json of a pass. */
export async function loadPlan(staging: Staging, volumeKey: string, passNumber: number): Promise<PassPlan> {
  const key = passPrefix(volumeKey, passNumber) + PLAN_KEY;
  return parseStagedJson(PassPlan, await staging.get(key), key);
}

/**
 * Seals a pass: gathers every shard's segment records and writes manifest.json, the object whose presence tells
 * the applier the pass is complete and whole. Idempotent.
 * @throws StagedObjectMissingError when a shard has not finished streaming.
 */
export async function finalizePass(
  staging: Staging,
  plan: PassPlan,
  /** Segment records per shard when the caller streamed every shard itself; read from staging otherwise. */
  known?: ReadonlyMap<number, readonly SegmentRecord[]>,
): Promise<PassManifest> {
  const prefix = passPrefix(plan.volumeKey, plan.passNumber);
  const segments: SegmentRecord[] = [];
  for (const shard of plan.shards) {
    const records = known?.get(shard.shardId);
    if (records) {
      segments.push(...records);
      continue;
    }
    const key = prefix + shardRecordKey(shard.shardId);
    segments.push(...parseStagedJson(ShardRecord, await staging.get(key), key).segments);
  }
  const carried = segments.reduce((sum, s) => sum + s.entries, 0);
  const dataBlocks = segments.reduce((sum, s) => sum + s.dataBlocks, 0);
  const body: Omit<PassManifest, 'digest'> = {
    format: MANIFEST_FORMAT,
    volumeKey: plan.volumeKey,
    passNumber: plan.passNumber,
    kind: plan.kind,
    snapshotId: plan.snapshotId,
    ...(plan.baseSnapshotId ? { baseSnapshotId: plan.baseSnapshotId } : {}),
    volumeSizeBytes: plan.volumeSizeBytes,
    blocksListed: plan.blocksListed,
    blocksCarried: carried,
    zeroBlocks: carried - dataBlocks,
    // A seeded pass leaves out the blocks the seed already holds, zeros or not: none is skipped for being zeros.
    zeroBlocksSkipped: plan.kind === 'seeded' ? 0 : plan.blocksListed - carried,
    ...(plan.kind === 'seeded'
      ? {
          seed: {
            blocksCompared: plan.blocksListed,
            blocksDiffering: carried,
            ...(plan.seedName === undefined ? {} : { name: plan.seedName }),
          },
        }
      : {}),
    segments,
    createdAt: new Date().toISOString(),
  };
  const manifest: PassManifest = { ...body, digest: manifestDigest(body) };
  await staging.put(prefix + MANIFEST_KEY, Buffer.from(JSON.stringify(manifest)));
  return manifest;
}

export interface RunPassOptions {
  readonly source: BlockSource;
  readonly staging: Staging;
  readonly governor?: RateGovernorOptions;
  readonly retry?: RetryPolicy;
  /** Shards streamed at once by this process; all share one governor. Each adds its own read-ahead and upload
   * buffers, so more than one trades memory for a little speed at shard boundaries. @default 1 */
  readonly shardConcurrency?: number;
  readonly readAheadBlocks?: number;
  readonly onProgress?: (progress: PassProgress) => void;
  /** Called once each segment is staged, e.g. to let an applier in this process start downloading it. */
  readonly onSegment?: (record: SegmentRecord) => void;
  /** Aborts the pass: no block read starts after it, those in flight are cut, and the call rejects with
   * WorkCancelledError. */
  readonly signal?: AbortSignal;
}

export interface PassProgress {
  readonly blocksListed: number;
  readonly blocksDone: number;
  readonly bytesStaged: number;
}

export interface PassReport {
  readonly manifest: PassManifest;
  readonly counters: ReadCounters;
  /** Every byte this pass put into staging: segments, plan, shard records and manifest. */
  readonly bytesStaged: number;
  readonly seconds: number;
  readonly listCalls: number;
  readonly blockCalls: number;
  readonly governor: GovernorStats;
}

/** Refs a single process keeps in memory instead of reading them back from staging (~4 shards, well under 1 MiB). */
const KEEP_BLOCKS = 4096;

/**
 * Plans, streams and seals one pass in this process — what the CLI and the bench run. On AWS the state machine
 * runs the same three steps as separate tasks (plan, a Map over shards, finalize).
 */
export async function runPass(request: PlanPassRequest, options: RunPassOptions): Promise<PassReport> {
  const started = performance.now();
  // No HeadBucket up front: a missing bucket fails the planner's first put with StagingBucketNotFoundError,
  // before anything is written, and a small pass saves the round trip.
  const staging = new CountingStaging(options.staging);
  const listed = await listPass(
    options.source,
    staging,
    { ...(options.retry ? { retry: options.retry } : {}), ...request },
    { keepBlocks: KEEP_BLOCKS },
  );
  const { plan } = listed;
  // Awaited before sealing; until then a streaming error must not leave it rejected and unhandled.
  listed.staged.catch(() => undefined);
  const governor = new RateGovernor(options.governor);
  const counters = newReadCounters();
  const concurrency = options.shardConcurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new InvalidInputError('shardConcurrency must be ≥ 1');

  let segmentBytes = 0;
  const streamed = new Map<number, readonly SegmentRecord[]>();
  const queue = [...plan.shards];
  const worker = async () => {
    for (let shard = queue.shift(); shard; shard = queue.shift()) {
      const known = listed.shards.get(shard.shardId);
      const result: ShardResult = await streamShard(plan, shard.shardId, {
        source: options.source,
        staging,
        governor,
        fresh: true,
        // This process seals the pass from the records it gets back: no shard record, no read-back of its refs.
        writeRecord: false,
        ...(known ? { shard: known } : {}),
        counters,
        ...(options.retry ? { retry: options.retry } : {}),
        ...(options.readAheadBlocks ? { readAheadBlocks: options.readAheadBlocks } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        onSegment: (segment) => {
          segmentBytes += segment.bytes;
          options.onSegment?.(segment);
          options.onProgress?.({
            blocksListed: plan.blocksListed,
            blocksDone: counters.blocksRead,
            bytesStaged: segmentBytes,
          });
        },
      });
      if (!result.done) throw new StagedObjectMissingError(`shard ${shard.shardId} did not finish`);
      streamed.set(shard.shardId, result.segments);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, plan.shards.length)) }, worker));
  await listed.staged;
  const manifest = await finalizePass(staging, plan, streamed);
  return {
    manifest,
    counters,
    bytesStaged: staging.bytesPut,
    seconds: (performance.now() - started) / 1000,
    listCalls: plan.listCalls,
    blockCalls: governor.stats.requests,
    governor: governor.stats,
  };
}

/** Staging that tallies the bytes put through it, so reports count metadata as well as segments. */
class CountingStaging implements Staging {
  bytesPut = 0;
  readonly description: string;
  constructor(private readonly inner: Staging) {
    this.description = inner.description;
  }
  assertReady() {
    return this.inner.assertReady();
  }
  put(key: string, body: Uint8Array, metadata?: Record<string, string>, options?: PutOptions) {
    this.bytesPut += body.length;
    return this.inner.put(key, body, metadata, options);
  }
  get(key: string, options?: GetOptions) {
    return this.inner.get(key, options);
  }
  head(key: string) {
    return this.inner.head(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  deletePrefix(prefix: string) {
    return this.inner.deletePrefix(prefix);
  }
}
