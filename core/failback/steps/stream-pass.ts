import { z } from 'zod';
import { BLOCK_SIZE } from '../../blocks.js';
import { newReadCounters } from '../../engine/block-reader.js';
import { finalizePass, loadPlan } from '../../engine/pass.js';
import { planPass } from '../../engine/planner.js';
import { RateGovernor } from '../../engine/rate-governor.js';
import { streamShard } from '../../engine/streamer.js';
import { WorkCancelledError } from '../../errors.js';
import { writeVolumeProgress } from '../progress.js';
import { type FailbackDeps, PassSnapshot, runLayout } from '../run-state.js';

const StreamStats = z.object({
  blocksListed: z.number().int().nonnegative(),
  blocksCarried: z.number().int().nonnegative(),
  bytesChanged: z.number().nonnegative(),
  bytesStaged: z.number().nonnegative(),
  invocations: z.number().int().positive(),
});
export type StreamStats = z.infer<typeof StreamStats>;

export const StreamVolumePassInput = z.object({
  runId: z.string(),
  passNumber: z.number().int().positive(),
  kind: z.enum(['full', 'incremental']),
  snapshot: PassSnapshot,
  /** Set by an invocation that ran out of time: the pass is planned and shards before `nextShard` are staged. */
  cursor: z.object({ nextShard: z.number().int().nonnegative() }).optional(),
  invocations: z.number().int().nonnegative().default(0),
});
export type StreamVolumePassInput = z.infer<typeof StreamVolumePassInput>;

export type StreamVolumePassOutput = Omit<StreamVolumePassInput, 'cursor'> & {
  readonly done: boolean;
  readonly cursor?: { nextShard: number };
  readonly stats?: StreamStats;
};

/**
 * Streams one volume's pass into the run's staging: plans it (first invocation), streams shards until `deadline`
 * (epoch ms; a Lambda passes its remaining time minus a margin), and seals it with the manifest once every shard is
 * staged. Returns `done: false` with a cursor when time ran out; the state machine calls again with it, and the
 * streamer skips segments an earlier invocation already staged. Each invocation publishes its throughput, the bytes
 * still to stream (by whole shards), and its read, throttle and retry counts. `signal` (the Task timed out or the
 * execution ended, or the invocation's hard stop) stops it at once: no block read starts after it and those in
 * flight are cut. Stopped after `deadline`, it returns its cursor as at the deadline.
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
      });
  const governor = new RateGovernor();
  const counters = newReadCounters();
  const invocations = input.invocations + 1;
  const streamingSince = Date.now();
  const records = (deps.recordStaging ?? deps.staging)(runLayout.record(input.runId));
  /** Publishes the invocation's metrics and the volume's progress record (`homebound status`). */
  const publish = async (nextShard: number, sealed?: { bytesChanged: number; bytesStaged: number }) => {
    const throughput = counters.bytesRead / Math.max(0.001, (Date.now() - streamingSince) / 1000);
    const bytesRemaining = plan.shards.slice(nextShard).reduce((sum, shard) => sum + shard.blocks, 0) * BLOCK_SIZE;
    deps.metrics.volumeStreamed(input.runId, snapshot.volumeKey, {
      StreamThroughput: throughput,
      BytesRemaining: bytesRemaining,
      BlocksRead: counters.blocksRead,
      ThrottledCalls: counters.throttled,
      RetriedCalls: counters.retried,
      VolumeBytesChanged: sealed?.bytesChanged,
    });
    await writeVolumeProgress(records, {
      runId: input.runId,
      volumeKey: snapshot.volumeKey,
      hostId: snapshot.hostId,
      volumeId: snapshot.volumeId,
      passNumber: input.passNumber,
      kind: input.kind,
      phase: sealed ? 'staged' : 'streaming',
      bytesRemaining,
      ...(sealed ? { bytesStaged: sealed.bytesStaged } : {}),
      throughputBytesPerSecond: throughput,
      updatedAt: deps.now().toISOString(),
    });
  };
  for (let next = cursor?.nextShard ?? 0; next < plan.shards.length; next++) {
    const shard = plan.shards[next];
    if (!shard) break;
    const result = await streamShard(plan, shard.shardId, {
      source: deps.blockSource,
      staging,
      governor,
      counters,
      deadline,
      fresh: !cursor,
      ...(signal ? { signal } : {}),
    }).catch((error: unknown) => {
      // Cut after the deadline (the invocation's hard stop, a segment slower than the margin): what is staged stays,
      // so hand back a cursor as at the deadline; the next invocation skips the staged segments.
      if (error instanceof WorkCancelledError && Date.now() >= deadline) return { done: false } as const;
      throw error;
    });
    if (!result.done || Date.now() >= deadline) {
      const nextShard = result.done ? next + 1 : next;
      await publish(nextShard);
      return { ...identity, invocations, done: false, cursor: { nextShard } };
    }
  }
  const manifest = await finalizePass(staging, plan);
  const bytesChanged = Math.min(manifest.blocksListed * BLOCK_SIZE, manifest.volumeSizeBytes);
  const bytesStaged = manifest.segments.reduce((sum, segment) => sum + segment.bytes, 0);
  await publish(plan.shards.length, { bytesChanged, bytesStaged });
  return {
    ...identity,
    invocations,
    done: true,
    stats: {
      blocksListed: manifest.blocksListed,
      blocksCarried: manifest.blocksCarried,
      bytesChanged,
      bytesStaged,
      invocations,
    },
  };
}
