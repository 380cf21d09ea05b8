import { z } from 'zod';
import { newReadCounters } from '../../engine/block-reader.js';
import { MANIFEST_KEY, passPrefix } from '../../engine/layout.js';
import { PassManifest, parseStagedJson } from '../../engine/manifest.js';
import { finalizePass, loadPlan } from '../../engine/pass.js';
import { RateGovernor } from '../../engine/rate-governor.js';
import { InvalidInputError } from '../../errors.js';
import type { Staging } from '../../ports.js';
import { recordVolumeProgress } from '../progress.js';
import { type FailbackDeps, runLayout } from '../run-state.js';
import { ShardRange } from '../stream-split.js';
import { passStats, type StreamVolumePassOutput, VolumePassIdentity } from './stream-pass.js';
import { streamShardsInOrder } from './stream-shards.js';

export const StreamShardRangeInput = VolumePassIdentity.extend({
  step: z.literal('range'),
  range: ShardRange,
  /** This invocation's part of the snapshot's GetSnapshotBlock budget, as the planning invocation split it. */
  requestsPerSecond: z.number().positive(),
  /** Set by an invocation of this range that ran out of time: shards before `nextShard` are staged. */
  cursor: z.object({ nextShard: z.number().int().nonnegative() }).optional(),
  invocations: z.number().int().nonnegative().default(0),
});
export type StreamShardRangeInput = z.infer<typeof StreamShardRangeInput>;

export type StreamShardRangeOutput = Omit<StreamShardRangeInput, 'cursor'> & {
  readonly done: boolean;
  readonly cursor?: { nextShard: number };
};

/**
 * Streams one range of shards of a pass that an earlier StreamPass invocation planned and split: the same streaming
 * as an unsplit pass, beside the other ranges' invocations, with a governor whose ceiling is this range's part of
 * the snapshot's budget (`requestsPerSecond`). It still slows down on throttles (another reader of the account) and
 * tells those from a quota as every governor does. Returns `done: false` with a cursor when time ran out; a retried
 * or resumed invocation skips the segments already staged. Never seals the pass: SealVolumePass does, once.
 * @throws InvalidInputError when the range lies beyond the plan's shards; the engine's errors as streamVolumePass.
 */
export async function streamShardRange(
  input: StreamShardRangeInput,
  deps: FailbackDeps,
  deadline: number,
  signal?: AbortSignal,
): Promise<StreamShardRangeOutput> {
  const { cursor, ...identity } = input;
  const { range, snapshot } = input;
  const staging = deps.staging(runLayout.volumes(input.runId));
  const plan = await loadPlan(staging, snapshot.volumeKey, input.passNumber);
  if (range.endShard > plan.shards.length) {
    throw new InvalidInputError(
      `range.endShard ${range.endShard} lies beyond the ${plan.shards.length} shards of pass ${input.passNumber} of ${snapshot.volumeKey}`,
    );
  }
  const governor = new RateGovernor({ maxRequestsPerSecond: input.requestsPerSecond });
  const counters = newReadCounters();
  const streamingSince = Date.now();
  const streamed = await streamShardsInOrder(plan, cursor?.nextShard ?? range.firstShard, range.endShard, {
    deps,
    staging,
    governor,
    counters,
    deadline,
    fresh: false,
    signal,
  });
  // No BytesRemaining: it is the volume's figure, which no range knows (the planning invocation and the seal give it).
  deps.metrics.volumeStreamed(input.runId, snapshot.volumeKey, {
    StreamThroughput: counters.bytesRead / Math.max(0.001, (Date.now() - streamingSince) / 1000),
    BlocksRead: counters.blocksRead,
    ThrottledCalls: counters.throttled,
    RetriedCalls: counters.retried,
  });
  const invocations = input.invocations + 1;
  if (!streamed.done) return { ...identity, invocations, done: false, cursor: { nextShard: streamed.nextShard } };
  return { ...identity, invocations, done: true };
}

export const SealVolumePassInput = VolumePassIdentity.extend({
  step: z.literal('seal'),
  /** Invocations of the planning step. */
  invocations: z.number().int().nonnegative().default(0),
  /** The StreamShardRanges Map's results: every range, done. */
  ranges: z.array(z.object({ done: z.literal(true), invocations: z.number().int().nonnegative() })).min(1),
});
export type SealVolumePassInput = z.infer<typeof SealVolumePassInput>;

/**
 * Seals a split pass once every range is staged: writes manifest.json from every shard's record, the object whose
 * presence tells the applier the pass is whole. Called again (a retry after the write), it returns the manifest
 * already staged rather than writing another: an applier may be reading it.
 * @throws StagedObjectMissingError when a shard has not finished streaming (nothing is written then).
 */
export async function sealVolumePass(input: SealVolumePassInput, deps: FailbackDeps): Promise<StreamVolumePassOutput> {
  const { ranges, ...identity } = input;
  const { snapshot } = input;
  const staging = deps.staging(runLayout.volumes(input.runId));
  const plan = await loadPlan(staging, snapshot.volumeKey, input.passNumber);
  const manifest =
    (await stagedManifest(staging, snapshot.volumeKey, input.passNumber)) ?? (await finalizePass(staging, plan));
  const invocations = input.invocations + ranges.reduce((sum, range) => sum + range.invocations, 0) + 1;
  const stats = passStats(manifest, invocations);
  deps.metrics.volumeStreamed(input.runId, snapshot.volumeKey, {
    BytesRemaining: 0,
    VolumeBytesChanged: stats.bytesChanged,
  });
  await recordVolumeProgress(deps, input, {
    kind: plan.kind,
    bytesRemaining: 0,
    throughputBytesPerSecond: 0,
    sealed: stats,
  });
  return { ...identity, invocations, done: true, split: true, stats };
}

async function stagedManifest(staging: Staging, volumeKey: string, passNumber: number) {
  const key = passPrefix(volumeKey, passNumber) + MANIFEST_KEY;
  if ((await staging.head(key)) === undefined) return undefined;
  return parseStagedJson(PassManifest, await staging.get(key), key);
}
