import { z } from 'zod';
import type { HostState } from '../compute/port.js';
import { parseStagedJson } from '../engine/manifest.js';
import type { Staging } from '../ports.js';
import { type FailbackDeps, runLayout } from './run-state.js';
import { PassRecord } from './steps/record-pass.js';

/**
 * Where each volume of a run stands, for `homebound status` (like `rbd mirror image status`): StreamVolumePass writes
 * one small record per volume at the end of every invocation, `records/<runId>/progress/<volumeKey>.json`, beside
 * the pass records RecordPass writes once a pass is applied. Reading both tells, per volume, whether its current pass
 * is streaming, staged and waiting for the applying side, or applied — without asking the state machine. The host's
 * wave comes with the pass's snapshot (SnapshotVolumes is given the run's waves).
 */

export const VOLUME_PROGRESS_FORMAT = 'homebound.volume-progress/v1';

export const VolumeProgress = z.object({
  format: z.literal(VOLUME_PROGRESS_FORMAT),
  runId: z.string(),
  volumeKey: z.string(),
  hostId: z.string(),
  volumeId: z.string(),
  /** The host's wave, when the request gave hosts waves. */
  wave: z.number().int().positive().optional(),
  passNumber: z.number().int().positive(),
  /** `seeded`: the run's first pass of a volume with a seed, planned as such by StreamPass (the state says `full`). */
  kind: z.enum(['full', 'incremental', 'seeded']),
  /** `streaming`: invocations still to come; `staged`: sealed, for the gateway or agent to apply. */
  phase: z.enum(['streaming', 'staged']),
  /** Bytes of the pass still to stream (whole shards); 0 once staged. */
  bytesRemaining: z.number().nonnegative(),
  /** Bytes the sealed pass carries; absent while streaming. */
  bytesStaged: z.number().nonnegative().optional(),
  /** Bytes per second the last invocation read from the snapshot. */
  throughputBytesPerSecond: z.number().nonnegative(),
  updatedAt: z.string(),
});
export type VolumeProgress = z.infer<typeof VolumeProgress>;

export const progressLayout = {
  dir: 'progress/',
  key: (volumeKey: string) => `progress/${volumeKey}.json`,
  passes: 'passes/',
} as const;

/** Replaces the volume's progress record; `records` is rooted at the run's record prefix (`records/<runId>/`). */
export async function writeVolumeProgress(records: Staging, progress: Omit<VolumeProgress, 'format'>): Promise<void> {
  const record: VolumeProgress = { format: VOLUME_PROGRESS_FORMAT, ...progress };
  await records.put(progressLayout.key(progress.volumeKey), Buffer.from(JSON.stringify(record)));
}

/** What names a volume's pass in the StreamPass steps (VolumePassIdentity). */
interface PassIdentity {
  readonly runId: string;
  readonly passNumber: number;
  readonly kind: 'full' | 'incremental';
  readonly snapshot: {
    readonly volumeKey: string;
    readonly hostId: string;
    readonly volumeId: string;
    readonly wave?: number | undefined;
  };
}

/**
 * Records where the volume's pass stands, in the run's record prefix of the stack's bucket (`recordStaging`, else
 * `staging`). `sealed` once the manifest is staged; else streaming with `bytesRemaining` still to stream.
 */
export async function recordVolumeProgress(
  deps: Pick<FailbackDeps, 'recordStaging' | 'staging' | 'now'>,
  pass: PassIdentity,
  progress: {
    /** The kind the pass was planned as, when it differs from the state's (a seeded first pass). */
    kind?: VolumeProgress['kind'];
    bytesRemaining: number;
    throughputBytesPerSecond: number;
    sealed?: { bytesStaged: number };
  },
): Promise<void> {
  await writeVolumeProgress((deps.recordStaging ?? deps.staging)(runLayout.record(pass.runId)), {
    runId: pass.runId,
    volumeKey: pass.snapshot.volumeKey,
    hostId: pass.snapshot.hostId,
    volumeId: pass.snapshot.volumeId,
    ...(pass.snapshot.wave === undefined ? {} : { wave: pass.snapshot.wave }),
    passNumber: pass.passNumber,
    kind: progress.kind ?? pass.kind,
    phase: progress.sealed ? 'staged' : 'streaming',
    bytesRemaining: progress.sealed ? 0 : progress.bytesRemaining,
    ...(progress.sealed ? { bytesStaged: progress.sealed.bytesStaged } : {}),
    throughputBytesPerSecond: progress.throughputBytesPerSecond,
    updatedAt: deps.now().toISOString(),
  });
}

/** One row of the status table: a volume of a host. */
export interface VolumeStatus {
  readonly hostId: string;
  readonly hostState: HostState | 'unknown';
  readonly wave: number | undefined;
  readonly volumeKey: string;
  /** `streaming pass N`, `applying pass N` (staged, not yet acknowledged) or `in sync at pass N`. */
  readonly state: string;
  readonly passNumber: number;
  readonly passKind: 'full' | 'incremental' | 'seeded';
  /** Bytes of the current pass not yet on the target: still to stream, or staged and not yet applied; 0 in sync. */
  readonly bytesBehind: number;
  readonly throughputBytesPerSecond: number | undefined;
  readonly updatedAt: string;
}

/** What a run's records say: its volumes' progress and its applied passes. */
export interface RunRecords {
  readonly progress: readonly VolumeProgress[];
  readonly passes: readonly PassRecord[];
}

/** Reads the run's progress and pass records (`records` rooted at `records/<runId>/`). */
export async function readRunRecords(records: Staging): Promise<RunRecords> {
  const progress: VolumeProgress[] = [];
  for (const key of (await records.list(progressLayout.dir)).sort()) {
    progress.push(parseStagedJson(VolumeProgress, await records.get(key), key));
  }
  const passes: PassRecord[] = [];
  for (const key of (await records.list(progressLayout.passes)).sort()) {
    passes.push(parseStagedJson(PassRecord, await records.get(key), key));
  }
  return { progress, passes };
}

/**
 * The status of every volume the records know, ordered by wave, host and volume. `hostStates` are the takeover hosts'
 * states as the compute port sees them now (absent: `unknown`).
 */
export function volumeStatuses(records: RunRecords, hostStates: ReadonlyMap<string, HostState>): VolumeStatus[] {
  const rows = records.progress.map((progress): VolumeStatus => {
    const applied = records.passes
      .filter((pass) => pass.volumes.some((volume) => volume.volumeKey === progress.volumeKey))
      .sort((a, b) => b.passNumber - a.passNumber)[0];
    const base = {
      hostId: progress.hostId,
      hostState: hostStates.get(progress.hostId) ?? ('unknown' as const),
      wave: progress.wave,
      volumeKey: progress.volumeKey,
    };
    if (applied && applied.passNumber >= progress.passNumber) {
      return {
        ...base,
        state: `in sync at pass ${applied.passNumber}${applied.final ? ' (final)' : ''}`,
        passNumber: applied.passNumber,
        passKind: applied.kind,
        bytesBehind: 0,
        throughputBytesPerSecond: undefined,
        updatedAt: applied.appliedAt > progress.updatedAt ? applied.appliedAt : progress.updatedAt,
      };
    }
    const streaming = progress.phase === 'streaming';
    return {
      ...base,
      state: `${streaming ? 'streaming' : 'applying'} pass ${progress.passNumber}`,
      passNumber: progress.passNumber,
      passKind: progress.kind,
      bytesBehind: streaming ? progress.bytesRemaining : (progress.bytesStaged ?? 0),
      throughputBytesPerSecond: streaming ? progress.throughputBytesPerSecond : undefined,
      updatedAt: progress.updatedAt,
    };
  });
  return rows.sort(
    (a, b) =>
      (a.wave ?? 0) - (b.wave ?? 0) || a.hostId.localeCompare(b.hostId) || a.volumeKey.localeCompare(b.volumeKey),
  );
}

const MiB = 1024 * 1024;
const COLUMNS = [
  'HOST',
  'HOST STATE',
  'WAVE',
  'VOLUME',
  'STATE',
  'PASS',
  'MiB BEHIND',
  'MiB/s',
  'LAST UPDATE',
] as const;

/** The status as a table for a terminal, one line per volume, columns padded to fit. */
export function renderStatusTable(rows: readonly VolumeStatus[]): string {
  if (rows.length === 0) return 'no volume has started its first pass yet';
  const cells = rows.map((row) => [
    row.hostId,
    row.hostState,
    row.wave === undefined ? '-' : String(row.wave),
    row.volumeKey,
    row.state,
    `${row.passNumber} ${row.passKind}`,
    (row.bytesBehind / MiB).toFixed(1),
    row.throughputBytesPerSecond === undefined ? '-' : (row.throughputBytesPerSecond / MiB).toFixed(1),
    row.updatedAt,
  ]);
  const widths = COLUMNS.map((title, i) => Math.max(title.length, ...cells.map((line) => line[i]?.length ?? 0)));
  const format = (line: readonly string[]) =>
    line
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [format(COLUMNS), ...cells.map(format)].join('\n');
}
