import { z } from 'zod';
import { BLOCK_SIZE } from '../../blocks.js';
import { newReadCounters } from '../../engine/block-reader.js';
import type { PassManifest } from '../../engine/manifest.js';
import { finalizePass, loadPlan } from '../../engine/pass.js';
import { planPass } from '../../engine/planner.js';
import { RateGovernor } from '../../engine/rate-governor.js';
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
});
export type StreamStats = z.infer<typeof StreamStats>;

/** What names one volume's pass in every StreamPass input. */
export const VolumePassIdentity = z.object({
  runId: z.string(),
  passNumber: z.number().int().positive(),
  kind: z.enum(['full', 'incremental']),
  snapshot: PassSnapshot,
});

export const StreamVolumePassInput = VolumePassIdentity.extend({
  /** Set by an invocation that ran out of time: the pass is planned and shards before `nextShard` are staged. */
  cursor: z.object({ nextShard: z.number().int().nonnegative() }).optional(),
  invocations: z.number().int().nonnegative().default(0),
});
export type StreamVolumePassInput = z.infer<typeof StreamVolumePassInput>;

export type StreamVolumePassOutput = Omit<StreamVolumePassInput, 'cursor'> & {
  readonly done: boolean;
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
 * Each invocation publishes its throughput, the bytes still to stream (by whole shards), and its read, throttle and
 * retry counts. `signal` (the Task timed out or the execution ended, or the invocation's hard stop) stops it at
 * once: no block read starts after it and those in flight are cut. Stopped after `deadline`, it returns its cursor
 * as at the deadline.
 * @throws the engine's errors (SnapshotNotFoundError, UnrelatedSnapshotsError, StagingBucketNotFoundError, …);
 *   WorkCancelledError when `signal` aborts before `deadline`.
 */
export async function streamVolumePass(
  input: StreamVolumePassInput,
  deps: FailbackDeps,
  deadline: number,
  signal?: AbortSignal,
): Promise<StreamVolumePassOutput> {
  const { cursor, ...identity } = input;
  const settings = deps.streamSplit ?? streamSplitSettings();
  const staging = deps.staging(runLayout.volumes(input.runId));
  const { snapshot } = input;
  const plan = cursor
    ? await loadPlan(staging, snapshot.volumeKey, input.passNumber)
    : await planPass(deps.blockSource, staging, {
        volumeKey: snapshot.volumeKey,
        passNumber: input.passNumber,
        kind: input.kind,
        snapshotId: snapshot.snapshotId,
        baseSnapshotId: snapshot.baseSnapshotId,
        volumeSizeBytes: snapshot.sizeBytes,
        shardBlocks: settings.shardBlocks,
      });
  const invocations = input.invocations + 1;
  const split = cursor ? undefined : splitPass(plan.shards.length, settings);
  if (split) {
    const bytesRemaining = bytesOfShards(plan, 0, plan.shards.length);
    deps.metrics.volumeStreamed(input.runId, snapshot.volumeKey, { BytesRemaining: bytesRemaining });
    // The ranges stream at once and each knows only its own part: the record stays as planned until the seal.
    await recordVolumeProgress(deps, input, { bytesRemaining, throughputBytesPerSecond: 0 });
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

/** What RecordPass and the report keep of a sealed pass. */
export function passStats(manifest: PassManifest, invocations: number): StreamStats {
  return {
    blocksListed: manifest.blocksListed,
    blocksCarried: manifest.blocksCarried,
    bytesChanged: Math.min(manifest.blocksListed * BLOCK_SIZE, manifest.volumeSizeBytes),
    bytesStaged: manifest.segments.reduce((sum, segment) => sum + segment.bytes, 0),
    invocations,
    ...(manifest.seed ?? {}),
  };
}
