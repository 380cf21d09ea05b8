import { z } from 'zod';
import { BLOCK_SIZE } from '../../blocks.js';
import { newReadCounters } from '../../engine/block-reader.js';
import type { PassManifest } from '../../engine/manifest.js';
import { finalizePass, loadPlan } from '../../engine/pass.js';
import { type PlanPassRequest, planPass } from '../../engine/planner.js';
import { RateGovernor } from '../../engine/rate-governor.js';
import { readSeed, seedBaseId } from '../../engine/seed.js';
import { CorruptSegmentError, SeedNotPublishedError, SeedTooSmallError } from '../../errors.js';
import { GatewayAckSecretMissingError, SeedHashTimeoutError } from '../errors.js';
import { recordVolumeProgress } from '../progress.js';
import { type FailbackDeps, PassSnapshot, runLayout } from '../run-state.js';
import { type ShardRange, splitPass, streamSplitSettings } from '../stream-split.js';
import { bytesOfShards, streamShardsInOrder } from './stream-shards.js';

const StreamStats = z.object({
  blocksListed: z.number().int().nonnegative(),
  blocksCarried: z.number().int().nonnegative(),
  bytesChanged: z.number().nonnegative(),
  bytesStaged: z.number().nonnegative(),
  invocations: z.number().int().positive(),
  /** A seeded pass: blocks read and compared with the seed, and blocks carried because they differ from it. */
  blocksCompared: z.number().int().nonnegative().optional(),
  blocksDiffering: z.number().int().nonnegative().optional(),
  /** A seeded pass: what its seed is (a volume id, a disk path). */
  seed: z.string().optional(),
});
export type StreamStats = z.infer<typeof StreamStats>;

/** What names one volume's pass in every StreamPass input. */
export const VolumePassIdentity = z.object({
  runId: z.string(),
  passNumber: z.number().int().positive(),
  kind: z.enum(['full', 'incremental']),
  snapshot: PassSnapshot,
});

/** How long StreamPass waits for a seeded volume's seed record before it fails with SeedHashTimeoutError: 6 hours,
 * time to hash about 2 TiB at 100 MiB/s. Not a request field yet (docs/architecture.md, "Seeded passes", limits);
 * the input's `seedHashTimeoutSeconds` overrides it. */
export const SEED_HASH_TIMEOUT_SECONDS = 21_600;

export const StreamVolumePassInput = VolumePassIdentity.extend({
  /** Set by an invocation that ran out of time: the pass is planned and shards before `nextShard` are staged. */
  cursor: z.object({ nextShard: z.number().int().nonnegative() }).optional(),
  invocations: z.number().int().nonnegative().default(0),
  /** Set by an invocation that found the seed record not yet published: when the wait for it began (ISO). */
  waitingSince: z.string().optional(),
  /** How long to wait for a seed record. @default SEED_HASH_TIMEOUT_SECONDS */
  seedHashTimeoutSeconds: z.number().int().positive().optional(),
});
export type StreamVolumePassInput = z.infer<typeof StreamVolumePassInput>;

export type StreamVolumePassOutput = Omit<StreamVolumePassInput, 'cursor'> & {
  readonly done: boolean;
  /** The volume is seeded and its seed record is not published yet: wait (WaitForSeed) and call again with the
   * output, which carries `waitingSince`. */
  readonly waitingForSeed?: boolean;
  /** The pass is planned and split: stream `ranges` at once (StreamShardRange), then seal it (SealVolumePass). */
  readonly split: boolean;
  readonly cursor?: { nextShard: number };
  readonly ranges?: readonly ShardRange[];
  /** GetSnapshotBlock requests per second each range invocation may send: its part of the snapshot's quota. */
  readonly requestsPerSecond?: number;
  readonly stats?: StreamStats;
};

/**
 * Streams one volume's pass into the run's staging: plans it (first invocation), streams shards until `deadline`
 * (epoch ms; a Lambda passes its remaining time minus a margin), and seals it with the manifest once every shard is
 * staged. Returns `done: false` with a cursor when time ran out; the state machine calls again with it, and the
 * streamer skips segments an earlier invocation already staged. A pass of more than one shard is split instead
 * (deps.streamSplit, core/failback/stream-split.ts): the first invocation only plans it and returns `split: true`
 * with its shard ranges and each range's part of the snapshot's read budget; the state machine streams the ranges
 * at once (streamShardRange) and seals the pass once (sealVolumePass).
 * The run's first pass of a seeded volume (`kind: 'full'`, a snapshot with `seed`) is planned `seeded` from the
 * seed record the target side publishes (core/engine/seed.ts); until the record is there it returns
 * `waitingForSeed: true` with `waitingSince`, and the state machine waits and calls again.
 * Each invocation publishes its throughput, the bytes still to stream (by whole shards), and its read, throttle and
 * retry counts. `signal` (the Task timed out or the execution ended, or the invocation's hard stop) stops it at
 * once: no block read starts after it and those in flight are cut. Stopped after `deadline`, it returns its cursor
 * as at the deadline.
 * @throws the engine's errors (SnapshotNotFoundError, UnrelatedSnapshotsError, StagingBucketNotFoundError, …);
 *   WorkCancelledError when `signal` aborts before `deadline`; for a seeded volume SeedHashTimeoutError (no record
 *   after `seedHashTimeoutSeconds`), SeedTooSmallError, CorruptSegmentError (a record not signed with the run's key,
 *   of another volume, or whose hash list does not match it), GatewayAckSecretMissingError (no key to verify with).
 */
export async function streamVolumePass(
  input: StreamVolumePassInput,
  deps: FailbackDeps,
  deadline: number,
  signal?: AbortSignal,
): Promise<StreamVolumePassOutput> {
  const { cursor, waitingSince, ...identity } = input;
  const settings = deps.streamSplit ?? streamSplitSettings();
  const staging = deps.staging(runLayout.volumes(input.runId));
  const { snapshot } = input;
  const invocations = input.invocations + 1;
  let planned: PlanPassRequest = {
    volumeKey: snapshot.volumeKey,
    passNumber: input.passNumber,
    kind: input.kind,
    snapshotId: snapshot.snapshotId,
    baseSnapshotId: snapshot.baseSnapshotId,
    volumeSizeBytes: snapshot.sizeBytes,
    shardBlocks: settings.shardBlocks,
  };
  if (!cursor && input.kind === 'full' && snapshot.seed) {
    const seeded = await seededRequest(input, deps);
    if (!seeded) {
      return {
        ...identity,
        invocations,
        done: false,
        split: false,
        waitingForSeed: true,
        waitingSince: waitingSince ?? deps.now().toISOString(),
      };
    }
    planned = { ...planned, ...seeded };
  }
  const plan = cursor
    ? await loadPlan(staging, snapshot.volumeKey, input.passNumber)
    : await planPass(deps.blockSource, staging, planned);
  const split = cursor ? undefined : splitPass(plan.shards.length, settings);
  if (split) {
    const bytesRemaining = bytesOfShards(plan, 0, plan.shards.length);
    deps.metrics.volumeStreamed(input.runId, snapshot.volumeKey, { BytesRemaining: bytesRemaining });
    // The ranges stream at once and each knows only its own part: the record stays as planned until the seal.
    await recordVolumeProgress(deps, input, { kind: plan.kind, bytesRemaining, throughputBytesPerSecond: 0 });
    return { ...identity, invocations, done: false, split: true, ...split, ranges: [...split.ranges] };
  }
  // Alone on its snapshot: the whole budget.
  const governor = new RateGovernor({ maxRequestsPerSecond: settings.snapshotBlockQuota });
  const counters = newReadCounters();
  const streamingSince = Date.now();
  /** Publishes the invocation's metrics and the volume's progress record (`homebound status`). */
  const publish = async (nextShard: number, sealed?: StreamStats) => {
    const throughput = counters.bytesRead / Math.max(0.001, (Date.now() - streamingSince) / 1000);
    const bytesRemaining = bytesOfShards(plan, nextShard, plan.shards.length);
    deps.metrics.volumeStreamed(input.runId, snapshot.volumeKey, {
      StreamThroughput: throughput,
      BytesRemaining: bytesRemaining,
      BlocksRead: counters.blocksRead,
      ThrottledCalls: counters.throttled,
      RetriedCalls: counters.retried,
      VolumeBytesChanged: sealed?.bytesChanged,
    });
    await recordVolumeProgress(deps, input, {
      kind: plan.kind,
      bytesRemaining,
      throughputBytesPerSecond: throughput,
      ...(sealed ? { sealed } : {}),
    });
  };
  const streamed = await streamShardsInOrder(plan, cursor?.nextShard ?? 0, plan.shards.length, {
    deps,
    staging,
    governor,
    counters,
    deadline,
    fresh: !cursor,
    signal,
  });
  if (!streamed.done) {
    await publish(streamed.nextShard);
    return { ...identity, invocations, done: false, split: false, cursor: { nextShard: streamed.nextShard } };
  }
  const manifest = await finalizePass(staging, plan);
  const stats = passStats(manifest, invocations);
  await publish(plan.shards.length, stats);
  return { ...identity, invocations, done: true, split: false, stats };
}

/**
 * The seeded part of a seeded volume's first pass, from the seed record the target side published; undefined while
 * it is not published yet (within the time allowed).
 */
async function seededRequest(
  input: StreamVolumePassInput,
  deps: FailbackDeps,
): Promise<Pick<PlanPassRequest, 'kind' | 'baseSnapshotId' | 'seedHashes' | 'seedName'> | undefined> {
  const { snapshot } = input;
  const recordKey = snapshot.seed?.recordKey ?? '';
  // The record comes from the target side (sync gateway, agent), signed with the run's key as its acks are.
  if (!deps.gatewayRunKey) throw new GatewayAckSecretMissingError('StreamPass');
  const runKey = await deps.gatewayRunKey(input.runId);
  try {
    const { record, hashes } = await readSeed(deps.staging(''), recordKey, runKey);
    if (record.volumeKey !== snapshot.volumeKey) {
      throw new CorruptSegmentError(recordKey, `is the seed of ${record.volumeKey}, not ${snapshot.volumeKey}`);
    }
    if (record.seedSizeBytes < snapshot.sizeBytes) {
      throw new SeedTooSmallError(record.seed, record.seedSizeBytes, snapshot.sizeBytes);
    }
    return { kind: 'seeded', baseSnapshotId: seedBaseId(record), seedHashes: hashes, seedName: record.seed };
  } catch (error) {
    if (!(error instanceof SeedNotPublishedError)) throw error;
    const limitSeconds = input.seedHashTimeoutSeconds ?? SEED_HASH_TIMEOUT_SECONDS;
    const since = input.waitingSince ? Date.parse(input.waitingSince) : deps.now().getTime();
    if (deps.now().getTime() - since > limitSeconds * 1000) {
      throw new SeedHashTimeoutError(
        `the seed of ${snapshot.volumeKey} was not hashed within ${limitSeconds} s: no seed record at ${recordKey} since ${input.waitingSince}`,
        { cause: error },
      );
    }
    return undefined;
  }
}

/** What RecordPass and the report keep of a sealed pass. */
export function passStats(manifest: PassManifest, invocations: number): StreamStats {
  return {
    blocksListed: manifest.blocksListed,
    blocksCarried: manifest.blocksCarried,
    bytesChanged: Math.min(manifest.blocksListed * BLOCK_SIZE, manifest.volumeSizeBytes),
    bytesStaged: manifest.segments.reduce((sum, segment) => sum + segment.bytes, 0),
    invocations,
    ...(manifest.seed
      ? {
          blocksCompared: manifest.seed.blocksCompared,
          blocksDiffering: manifest.seed.blocksDiffering,
          ...(manifest.seed.name === undefined ? {} : { seed: manifest.seed.name }),
        }
      : {}),
  };
}
