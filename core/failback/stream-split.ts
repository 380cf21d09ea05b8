import { z } from 'zod';
import { BURST_SECONDS, MIN_BURST_TOKENS } from '../engine/rate-governor.js';
import { InvalidInputError } from '../errors.js';

/** The MaxConcurrency of the StreamShardRanges Map in both state machines: every range of a volume runs at once. */
export const MAX_STREAM_INVOCATIONS_PER_VOLUME = 10;

/**
 * How StreamPass splits one volume's pass over invocations running at once, and the read budget they share.
 * Every reader of a snapshot shares its GetSnapshotBlock quota (1,000/s on AWS, fixed), so the invocations over one
 * snapshot get one budget between them, never one each.
 */
export const StreamSplitSettings = z.object({
  /**
   * StreamPass invocations that stream one volume's pass at once. A pass of one shard (≤ 512 MiB of listed blocks
   * at the default shard size) stays in one invocation whatever this says; 1 never splits.
   * At most MAX_STREAM_INVOCATIONS_PER_VOLUME, the MaxConcurrency of the state machines' StreamShardRanges Map.
   * @default 4
   */
  invocationsPerVolume: z.number().int().min(1).max(MAX_STREAM_INVOCATIONS_PER_VOLUME).default(4),
  /** GetSnapshotBlock requests per second that every reader of one snapshot shares (AWS: 1,000, fixed). @default 1000 */
  snapshotBlockQuota: z.number().int().min(1).default(1000),
  /** Block refs per shard, the unit a range is made of and a cursor resumes at. @default 1024 (512 MiB) */
  shardBlocks: z.number().int().min(1).default(1024),
});
export type StreamSplitSettings = z.output<typeof StreamSplitSettings>;

/**
 * Share of the snapshot quota the range invocations use together, bursts included (see `splitPass`); the rest is
 * headroom for requests that leave on time and arrive bunched.
 */
export const SNAPSHOT_BUDGET_SHARE = 0.9;

/** A contiguous run of shards `[firstShard, endShard)` that one invocation streams. */
export const ShardRange = z
  .object({ firstShard: z.number().int().nonnegative(), endShard: z.number().int().positive() })
  .refine((range) => range.endShard > range.firstShard, { message: 'endShard must be above firstShard' });
export type ShardRange = z.infer<typeof ShardRange>;

export interface PassSplit {
  readonly ranges: readonly ShardRange[];
  /** GetSnapshotBlock requests per second each range invocation may send: its part of the snapshot's budget. */
  readonly requestsPerSecond: number;
}

/**
 * Reads the settings, filling in the defaults.
 * @throws InvalidInputError naming the field out of range
 */
export function streamSplitSettings(given: Partial<StreamSplitSettings> = {}): StreamSplitSettings {
  const parsed = StreamSplitSettings.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError(`stream split setting ${issue?.path.join('.')}: ${issue?.message}`);
  }
  return parsed.data;
}

/**
 * Splits a planned pass of `shardCount` shards into contiguous ranges of near-equal shard counts, one per
 * invocation, and gives each an equal part of the snapshot's budget: SNAPSHOT_BUDGET_SHARE of the quota, less the
 * burst each governor may send on top of its rate, so the invocations together stay under the quota in any second
 * (1,000/s and 4 invocations: 214/s each, at most 900/s together). Undefined when the pass stays in one invocation
 * (one shard, or `invocationsPerVolume` 1): that invocation then has the whole quota as its ceiling.
 */
export function splitPass(shardCount: number, settings: StreamSplitSettings): PassSplit | undefined {
  const budget = settings.snapshotBlockQuota * SNAPSHOT_BUDGET_SHARE;
  const ceiling = (count: number) => {
    const allowance = budget / count;
    // The largest rate r with r + burstTokens(r) ≤ allowance, burstTokens(r) being max(MIN_BURST_TOKENS, r × BURST_SECONDS).
    return Math.floor(Math.min(allowance - MIN_BURST_TOKENS, allowance / (1 + BURST_SECONDS)));
  };
  let count = Math.min(settings.invocationsPerVolume, shardCount);
  // Never more ranges than the budget has a request per second for.
  while (count >= 2 && ceiling(count) < 1) count -= 1;
  if (count < 2) return undefined;
  const ranges = Array.from({ length: count }, (_, i) => ({
    firstShard: Math.floor((i * shardCount) / count),
    endShard: Math.floor(((i + 1) * shardCount) / count),
  }));
  return { ranges, requestsPerSecond: ceiling(count) };
}
