import { BLOCK_SIZE } from '../../blocks.js';
import type { ReadCounters } from '../../engine/block-reader.js';
import type { PassPlan } from '../../engine/manifest.js';
import type { RateGovernor } from '../../engine/rate-governor.js';
import { streamShard } from '../../engine/streamer.js';
import { WorkCancelledError } from '../../errors.js';
import type { Staging } from '../../ports.js';
import type { FailbackDeps } from '../run-state.js';

export interface ShardRunOptions {
  readonly deps: FailbackDeps;
  readonly staging: Staging;
  readonly governor: RateGovernor;
  readonly counters: ReadCounters;
  /** Epoch ms after which no segment starts. */
  readonly deadline: number;
  /** The pass was planned by this invocation just now: nothing of it can be staged yet. */
  readonly fresh: boolean;
  readonly signal?: AbortSignal | undefined;
}

/** Where a run of shards stopped: `done`, or the shard the next invocation continues from (possibly `end`: stopped
 * at the deadline just as the last shard was staged, the next invocation only finishes up). */
export interface ShardRunResult {
  readonly done: boolean;
  readonly nextShard: number;
}

/**
 * Streams the shards `[from, end)` of a planned pass one after another until they are all staged or `deadline`
 * passes. Segments an earlier invocation staged are skipped (unless `fresh`), so a retried or resumed invocation
 * continues where staging says, whatever its cursor. Cut after the deadline (the invocation's hard stop, a segment
 * slower than the margin), it returns the cursor as at the deadline: what is staged stays.
 * @throws the streamer's errors; WorkCancelledError when `signal` aborts before `deadline`.
 */
export async function streamShardsInOrder(
  plan: PassPlan,
  from: number,
  end: number,
  options: ShardRunOptions,
): Promise<ShardRunResult> {
  const { deps, staging, governor, counters, deadline, fresh, signal } = options;
  for (let next = from; next < end; next++) {
    const shard = plan.shards[next];
    if (!shard) break;
    const result = await streamShard(plan, shard.shardId, {
      source: deps.blockSource,
      staging,
      governor,
      counters,
      deadline,
      fresh,
      ...(signal ? { signal } : {}),
    }).catch((error: unknown) => {
      if (error instanceof WorkCancelledError && Date.now() >= deadline) return { done: false } as const;
      throw error;
    });
    if (!result.done || Date.now() >= deadline) {
      const nextShard = result.done ? next + 1 : next;
      return { done: false, nextShard };
    }
  }
  return { done: true, nextShard: end };
}

/** Bytes of the shards `[from, end)` of a plan, counted in whole blocks. */
export function bytesOfShards(plan: PassPlan, from: number, end: number): number {
  return plan.shards.slice(from, end).reduce((sum, shard) => sum + shard.blocks, 0) * BLOCK_SIZE;
}
