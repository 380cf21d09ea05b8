import { z } from 'zod';
import { sharedRequestFields } from '../request-fields.js';
import { type FailbackDeps, PassState, runLayout } from '../run-state.js';

const StreamedVolume = z.object({
  snapshot: z.object({ volumeKey: z.string(), snapshotId: z.string(), baseSnapshotId: z.string().optional() }),
  stats: z.object({
    blocksListed: z.number(),
    bytesChanged: z.number(),
    bytesStaged: z.number(),
    invocations: z.number(),
  }),
});

export const RecordPassInput = z.object({
  runId: z.string(),
  pass: PassState,
  streamed: z.array(StreamedVolume).min(1),
  convergence: sharedRequestFields.convergence.unwrap(),
});
export type RecordPassInput = z.infer<typeof RecordPassInput>;

/** The record of one applied pass, kept in the run record for the report. */
export const PassRecord = z.object({
  passNumber: z.number().int().positive(),
  kind: z.enum(['full', 'incremental']),
  final: z.boolean(),
  startedAt: z.string(),
  appliedAt: z.string(),
  /** Snapshot taken → every volume's pass durable on the target. */
  seconds: z.number().nonnegative(),
  bytesChanged: z.number().nonnegative(),
  bytesStaged: z.number().nonnegative(),
  volumes: z.array(
    z.object({
      volumeKey: z.string(),
      snapshotId: z.string(),
      blocksListed: z.number(),
      bytesChanged: z.number(),
      bytesStaged: z.number(),
      invocations: z.number(),
    }),
  ),
});
export type PassRecord = z.infer<typeof PassRecord>;

export interface Convergence {
  readonly passes: number;
  readonly bytesChanged: number;
  /** How long the pass took (snapshot taken → applied); the approval page estimates the final pass from it. */
  readonly seconds: number;
  /** Converged: the last incremental pass was at most the threshold, or the pass limit is reached. */
  readonly converged: boolean;
  readonly reason: string;
}

const MiB = 1024 * 1024;

/**
 * Records an applied pass in the run record, deletes the snapshots it superseded (the target now stands at this
 * pass's snapshots, the base of the next one), and decides convergence. Publishes the pass's size, duration and
 * size against the threshold.
 */
export async function recordPass(input: RecordPassInput, deps: FailbackDeps): Promise<Convergence> {
  const appliedAt = deps.now();
  const startedAt = input.pass.startedAt ?? appliedAt.toISOString();
  const record: PassRecord = {
    passNumber: input.pass.number,
    kind: input.pass.kind ?? 'incremental',
    final: input.pass.final,
    startedAt,
    appliedAt: appliedAt.toISOString(),
    seconds: Math.max(0, (appliedAt.getTime() - Date.parse(startedAt)) / 1000),
    bytesChanged: input.streamed.reduce((sum, volume) => sum + volume.stats.bytesChanged, 0),
    bytesStaged: input.streamed.reduce((sum, volume) => sum + volume.stats.bytesStaged, 0),
    volumes: input.streamed.map(({ snapshot, stats }) => ({
      volumeKey: snapshot.volumeKey,
      snapshotId: snapshot.snapshotId,
      ...stats,
    })),
  };
  const staging = deps.staging(runLayout.record(input.runId));
  await staging.put(runLayout.passRecordKey(record.passNumber), Buffer.from(JSON.stringify(record)));

  const superseded = input.pass.snapshots.flatMap((snapshot) =>
    snapshot.baseSnapshotId ? [snapshot.baseSnapshotId] : [],
  );
  if (superseded.length > 0) await deps.compute.deleteSnapshots(superseded);

  const threshold = input.convergence.thresholdMiB * MiB;
  const small = record.kind === 'incremental' && record.bytesChanged <= threshold;
  const limit = record.passNumber >= input.convergence.maxPasses;
  const reason = small
    ? `pass ${record.passNumber} changed ${(record.bytesChanged / MiB).toFixed(1)} MiB ≤ ${input.convergence.thresholdMiB} MiB`
    : limit
      ? `reached the limit of ${input.convergence.maxPasses} passes`
      : `pass ${record.passNumber} changed ${(record.bytesChanged / MiB).toFixed(1)} MiB > ${input.convergence.thresholdMiB} MiB`;
  deps.metrics.runEvent(input.runId, {
    PassBytesChanged: record.bytesChanged,
    PassDuration: record.seconds,
    ConvergenceRatio: threshold > 0 ? (100 * record.bytesChanged) / threshold : undefined,
  });
  return {
    passes: record.passNumber,
    bytesChanged: record.bytesChanged,
    seconds: record.seconds,
    converged: small || limit,
    reason,
  };
}
