import { z } from 'zod';
import { SnapshotFailedError } from '../errors.js';
import { TargetBase } from '../kept-target.js';
import {
  type FailbackDeps,
  PassSnapshot,
  PassState,
  RUN_TAG,
  RunVolume,
  runLayout,
  TargetVolume,
  Wave,
} from '../run-state.js';

export const SnapshotVolumesInput = z.object({
  runId: z.string(),
  takeoverHostIds: z.array(z.string()).min(1),
  volumes: z.array(RunVolume).min(1),
  /** The run's waves: each snapshot carries its host's, so the progress records can say it (absent: none). */
  waves: z.array(Wave).optional(),
  previous: PassState,
  final: z.boolean(),
  /**
   * The run's target: the snapshots its volumes already hold (`bases`) make the first pass incremental; a seeded
   * volume — its seed record in `volumes[].seed` (PrepareTarget's result) or `disks[].seed` (the on-prem agent's) —
   * gets a seeded first pass.
   */
  target: z
    .object({
      bases: z.array(TargetBase).optional(),
      volumes: z.array(TargetVolume.pick({ volumeKey: true, seed: true })).optional(),
      disks: z.array(z.object({ volumeKey: z.string(), seed: PassSnapshot.shape.seed })).optional(),
    })
    .optional(),
});
export type SnapshotVolumesInput = z.infer<typeof SnapshotVolumesInput>;

/** Tags on a pass's snapshots: the pass number and the takeover host whose volumes they hold. */
export const PASS_TAG = 'homebound:pass';
export const SNAPSHOT_OF_TAG = 'homebound:snapshot-of';

/**
 * Starts the next pass: one crash-consistent snapshot set per takeover host (all of a host's volumes at one
 * instant). Every pass is incremental against the previous pass's snapshot of the volume; pass 1 is full, unless
 * the target holds a kept snapshot of every volume (`target.bases`, proven by PrepareTarget): then it is incremental
 * from those. A seeded volume's first snapshot carries its seed record (`target.volumes[].seed`, or `target.disks[].seed`
 * on-prem): StreamPass makes that volume's pass seeded.
 * Idempotent per host: a set already tagged with this run, pass and host is reused rather than taken again.
 */
export async function snapshotVolumes(input: SnapshotVolumesInput, deps: FailbackDeps): Promise<PassState> {
  const number = input.previous.number + 1;
  const bases = input.target?.bases ?? [];
  const snapshots: PassSnapshot[] = [];
  for (const hostId of input.takeoverHostIds) {
    const wave = input.waves?.find((candidate) => candidate.takeoverHostIds.includes(hostId))?.wave;
    const tags = { [RUN_TAG]: input.runId, [PASS_TAG]: String(number), [SNAPSHOT_OF_TAG]: hostId };
    // A retry after a timeout reuses the set its first attempt took (CreateSnapshots has no ClientToken).
    const earlier = await deps.compute.findSnapshots(tags);
    const taken = earlier.length > 0 ? earlier : await deps.compute.createSnapshots(hostId, tags);
    for (const volume of input.volumes.filter((candidate) => candidate.hostId === hostId)) {
      const snapshot = taken.find((candidate) => candidate.volumeId === volume.volumeId);
      if (!snapshot) throw new SnapshotFailedError(`(none taken of ${volume.volumeId} on ${hostId})`);
      const base =
        input.previous.snapshots.find((previous) => previous.volumeKey === volume.volumeKey) ??
        (number === 1 ? bases.find((kept) => kept.volumeKey === volume.volumeKey) : undefined);
      const seed =
        number === 1 && !base
          ? (input.target?.volumes?.find((target) => target.volumeKey === volume.volumeKey)?.seed ??
            input.target?.disks?.find((disk) => disk.volumeKey === volume.volumeKey)?.seed)
          : undefined;
      snapshots.push({
        volumeKey: volume.volumeKey,
        hostId,
        volumeId: volume.volumeId,
        sizeBytes: volume.sizeBytes,
        snapshotId: snapshot.snapshotId,
        ...(base ? { baseSnapshotId: base.snapshotId } : {}),
        ...(seed ? { seed: { recordKey: seed.recordKey } } : {}),
        ...(wave === undefined ? {} : { wave }),
      });
    }
  }
  // A snapshot set is taken before any approval is asked and right after one is given: none is pending.
  deps.metrics.runEvent(input.runId, { ApprovalsPending: 0 });
  return {
    number,
    kind: snapshots.every((snapshot) => snapshot.baseSnapshotId) ? 'incremental' : 'full',
    final: input.final,
    startedAt: deps.now().toISOString(),
    snapshots,
  };
}

export const CheckSnapshotsInput = z.object({
  runId: z.string(),
  passNumber: z.number().int().positive(),
  snapshots: z.array(PassSnapshot).min(1),
});

/** Where the StreamPass Distributed Map reads a pass's items and writes its results (both in the stack's bucket). */
export interface PassMapLocation {
  readonly items: { readonly bucket: string; readonly key: string };
  readonly results: { readonly bucket: string; readonly prefix: string };
}

export type SnapshotCheck = { ready: false; progress: number } | ({ ready: true; progress: number } & PassMapLocation);

/**
 * Whether every snapshot of the pass is `completed` (only completed snapshots can be read). Once they are, writes the
 * pass's snapshots as the StreamPass Distributed Map's items (a JSON array, under the run's prefix where no gateway
 * can write: core/gateway/scope.ts) and returns where the map reads them and writes its results: a fleet's item list
 * would not fit an inline Map's 256 KiB payload. Idempotent: a retry writes the same object again.
 * @throws SnapshotFailedError when a snapshot failed.
 */
export async function checkSnapshots(
  input: z.infer<typeof CheckSnapshotsInput>,
  deps: FailbackDeps,
): Promise<SnapshotCheck> {
  const found = await deps.compute.describeSnapshots(input.snapshots.map((snapshot) => snapshot.snapshotId));
  const failed = found.find((snapshot) => snapshot.state === 'error');
  if (failed) throw new SnapshotFailedError(failed.snapshotId);
  const progress = Math.round(found.reduce((sum, snapshot) => sum + snapshot.progress, 0) / Math.max(1, found.length));
  if (!found.every((snapshot) => snapshot.state === 'completed')) return { ready: false, progress };
  // CheckSnapshots is never one of the tasks given another pass store (core/wiring/local.ts, lib/onprem-staging-store.ts):
  // its staging is the stack's bucket, the one the state machine's role may read.
  const key = runLayout.passItemsKey(input.runId, input.passNumber);
  await deps.staging('').put(key, Buffer.from(JSON.stringify(input.snapshots)));
  return {
    ready: true,
    progress,
    items: { bucket: deps.stagingBucket, key },
    results: { bucket: deps.stagingBucket, prefix: runLayout.passResultsPrefix(input.runId, input.passNumber) },
  };
}
