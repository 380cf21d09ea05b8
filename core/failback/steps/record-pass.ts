import { z } from 'zod';
import { PassResultsMismatchError } from '../errors.js';
import { sharedRequestFields } from '../request-fields.js';
import { type FailbackDeps, PassState, runLayout } from '../run-state.js';

const StreamedVolume = z.object({
  snapshot: z.object({ volumeKey: z.string(), snapshotId: z.string(), baseSnapshotId: z.string().optional() }),
  stats: z.object({
    blocksListed: z.number(),
    bytesChanged: z.number(),
    bytesStaged: z.number(),
    invocations: z.number(),
    blocksCompared: z.number().optional(),
    blocksDiffering: z.number().optional(),
    seed: z.string().optional(),
  }),
});
type StreamedVolume = z.infer<typeof StreamedVolume>;

/** What the StreamPass Distributed Map's ResultWriter returns: where its manifest is (`$.streamed.ResultWriterDetails`). */
const PassResults = z.object({ Bucket: z.string(), Key: z.string() });

export const RecordPassInput = z.object({
  runId: z.string(),
  pass: PassState,
  results: PassResults,
  convergence: sharedRequestFields.convergence.unwrap(),
});
export type RecordPassInput = z.infer<typeof RecordPassInput>;

/** The fields of the map run's `manifest.json` and of its result files' entries that RecordPass reads (AWS's names). */
const ResultManifest = z.object({
  ResultFiles: z.object({
    SUCCEEDED: z.array(z.object({ Key: z.string() })).default([]),
    FAILED: z.array(z.object({ Key: z.string() })).default([]),
  }),
});
const ResultEntries = z.array(z.object({ Name: z.string(), Status: z.string(), Output: z.string().optional() }));

function parseJson<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PassResultsMismatchError(`${what} is not JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PassResultsMismatchError(
      `${what}: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? 'is invalid'}`,
    );
  }
  return parsed.data;
}

/**
 * Every volume's streamed pass, from the StreamPass map run's export (`manifest.json`, then its `SUCCEEDED_*.json`
 * files, each child's Output the state its iteration ended in), checked against the pass: each snapshot exactly once.
 * The map tolerates no failure, so a FAILED file means the export is not the one that map run left.
 * @throws PassResultsMismatchError naming what does not match.
 */
export async function readStreamedVolumes(
  input: Pick<RecordPassInput, 'runId' | 'pass' | 'results'>,
  deps: FailbackDeps,
): Promise<StreamedVolume[]> {
  // RecordPass is never one of the tasks given another pass store: its staging is the stack's bucket, where the
  // state machine's ResultWriter writes (core/failback/steps/snapshots.ts chose it).
  if (input.results.Bucket !== deps.stagingBucket) {
    throw new PassResultsMismatchError(`results.Bucket "${input.results.Bucket}" is not the staging bucket`);
  }
  const resultsPrefix = `${runLayout.passResultsPrefix(input.runId, input.pass.number)}/`;
  if (!input.results.Key.startsWith(resultsPrefix)) {
    throw new PassResultsMismatchError(`results.Key "${input.results.Key}" is not below ${resultsPrefix}`);
  }
  const staging = deps.staging('');
  const manifest = parseJson(ResultManifest, (await staging.get(input.results.Key)).toString('utf8'), 'manifest');
  if (manifest.ResultFiles.FAILED.length > 0) {
    throw new PassResultsMismatchError(`the map run exported failed children (${manifest.ResultFiles.FAILED[0]?.Key})`);
  }
  const streamed: StreamedVolume[] = [];
  for (const file of manifest.ResultFiles.SUCCEEDED) {
    const entries = parseJson(ResultEntries, (await staging.get(file.Key)).toString('utf8'), file.Key);
    for (const entry of entries) {
      streamed.push(parseJson(StreamedVolume, entry.Output ?? '', `${file.Key}: the Output of ${entry.Name}`));
    }
  }
  const byKey = new Map(streamed.map((volume) => [volume.snapshot.volumeKey, volume]));
  for (const snapshot of input.pass.snapshots) {
    const volume = byKey.get(snapshot.volumeKey);
    if (volume?.snapshot.snapshotId !== snapshot.snapshotId) {
      throw new PassResultsMismatchError(`no streamed result for ${snapshot.volumeKey} (${snapshot.snapshotId})`);
    }
  }
  if (streamed.length !== input.pass.snapshots.length) {
    throw new PassResultsMismatchError(
      `${streamed.length} streamed results for the ${input.pass.snapshots.length} volumes of pass ${input.pass.number}`,
    );
  }
  // In the pass's order (the children's order in the export is not AWS's to keep).
  return input.pass.snapshots.flatMap((snapshot) => byKey.get(snapshot.volumeKey) ?? []);
}

/** The record of one applied pass, kept in the run record for the report. */
export const PassRecord = z.object({
  passNumber: z.number().int().positive(),
  /** `seeded` when any volume's pass was (its first pass compared with a seed; core/engine/seed.ts). */
  kind: z.enum(['full', 'incremental', 'seeded']),
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
      /** A seeded volume: blocks read and compared with its seed, blocks carried because they differ, the seed. */
      blocksCompared: z.number().optional(),
      blocksDiffering: z.number().optional(),
      seed: z.string().optional(),
    }),
  ),
  /** What an operator should know of the pass, e.g. a seed that saved nothing. */
  warnings: z.array(z.string()).optional(),
});
export type PassRecord = z.infer<typeof PassRecord>;

export interface Convergence {
  readonly passes: number;
  readonly bytesChanged: number;
  /** The pass's blocks listed and bytes staged over all volumes (the drill's pass line; the record has them per volume). */
  readonly blocksListed: number;
  readonly bytesStaged: number;
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
  const streamed = await readStreamedVolumes(input, deps);
  const appliedAt = deps.now();
  const startedAt = input.pass.startedAt ?? appliedAt.toISOString();
  const seeded = streamed.some((volume) => volume.stats.blocksCompared !== undefined);
  const warnings = streamed.flatMap(seedWarning);
  const record: PassRecord = {
    passNumber: input.pass.number,
    kind: seeded ? 'seeded' : (input.pass.kind ?? 'incremental'),
    final: input.pass.final,
    startedAt,
    appliedAt: appliedAt.toISOString(),
    seconds: Math.max(0, (appliedAt.getTime() - Date.parse(startedAt)) / 1000),
    bytesChanged: streamed.reduce((sum, volume) => sum + volume.stats.bytesChanged, 0),
    bytesStaged: streamed.reduce((sum, volume) => sum + volume.stats.bytesStaged, 0),
    volumes: streamed.map(({ snapshot, stats }) => ({
      volumeKey: snapshot.volumeKey,
      snapshotId: snapshot.snapshotId,
      ...stats,
    })),
    ...(warnings.length > 0 ? { warnings } : {}),
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
    blocksListed: record.volumes.reduce((sum, volume) => sum + volume.blocksListed, 0),
    bytesStaged: record.bytesStaged,
    seconds: record.seconds,
    converged: small || limit,
    reason,
  };
}

/** A seed differs from its volume in at least this share of the blocks compared: it saved (next to) nothing. */
export const SEED_SAVED_NOTHING_SHARE = 0.9;

/** The warning for a seeded volume whose seed turned out (nearly) unrelated: the pass cost what a full pass does. */
function seedWarning({ snapshot, stats }: StreamedVolume): string[] {
  const { blocksCompared, blocksDiffering } = stats;
  if (blocksCompared === undefined || blocksDiffering === undefined || blocksCompared === 0) return [];
  if (blocksDiffering < SEED_SAVED_NOTHING_SHARE * blocksCompared) return [];
  return [
    `seed ${stats.seed ?? '(unnamed)'} of ${snapshot.volumeKey} saved nothing: ${blocksDiffering} of the ${blocksCompared} blocks compared differ, so the pass staged about what a full pass would; the target still ends identical (is it the original disk of this volume?)`,
  ];
}
