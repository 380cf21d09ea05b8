import { parseStagedJson } from '../engine/manifest.js';
import { hasValidMac } from '../engine/run-key.js';
import { StagedObjectMissingError } from '../errors.js';
import { baseFromKeptRecord } from './adopt-target.js';
import {
  BASE_OF_TAG,
  KEPT_FOR_RECORDS,
  KEPT_FOR_TAG,
  KeptTargetRecord,
  keptForKey,
  type TargetBase,
} from './kept-target.js';
import type { FailbackDeps, RunVolume } from './run-state.js';

/**
 * Finds the snapshot a rolled-back conditional-automated run kept for `volume` (core/failback/keep-applied.ts) and
 * checks its proof: the kept record names this takeover volume, its ack (the agent's, of the pass that left the disk
 * holding the snapshot) verifies with the run key of the run that wrote it, the snapshot is completed, of this
 * volume, and still tagged kept-for it (no other run took it over) — or tagged as this run's base (a retried
 * PlanOnPremRun). Returns it as a proposed base (takeOverBase claims it); whether the disk still holds it is the
 * agent's to prove from its journal (PrepareTarget). Otherwise the reason a full pass is needed.
 */
export async function findKeptBase(
  runId: string,
  volume: RunVolume,
  deps: FailbackDeps,
): Promise<{ base: TargetBase } | { reason: string }> {
  const key = keptForKey(volume.volumeId);
  const body = await (deps.recordStaging ?? deps.staging)(KEPT_FOR_RECORDS)
    .get(key)
    .catch((error: unknown) => {
      if (error instanceof StagedObjectMissingError) return undefined;
      throw error;
    });
  if (!body) return { reason: `no snapshot was kept for ${volume.volumeId}` };
  const record = parseStagedJson(KeptTargetRecord, body, key);
  const { ack } = record;
  if (
    record.takeoverVolumeId !== volume.volumeId ||
    record.volumeKey !== volume.volumeKey ||
    ack.snapshotId !== record.snapshotId ||
    ack.passNumber !== record.passNumber ||
    ack.volumeKey !== record.volumeKey
  ) {
    return { reason: `the kept record of ${volume.volumeId} (run ${record.runId}) does not match it` };
  }
  if (!deps.gatewayRunKey || !hasValidMac(await deps.gatewayRunKey(record.ackRunId), ack)) {
    return { reason: `the ack kept for ${volume.volumeId} does not verify with run ${record.ackRunId}'s key` };
  }
  const tagged = [
    ...(await deps.compute.findSnapshots({ [KEPT_FOR_TAG]: volume.volumeId })),
    ...(await deps.compute.findSnapshots({ [BASE_OF_TAG]: runId })),
  ];
  if (!tagged.some((snapshot) => snapshot.snapshotId === record.snapshotId)) {
    return { reason: `snapshot ${record.snapshotId} is no longer kept for ${volume.volumeId}` };
  }
  return baseFromKeptRecord(record, volume, deps);
}

/**
 * Claims a proposed base for this run: tagged base-of the run (its CleanUp keeps it if the disk still holds it after
 * a rollback, deletes it otherwise), kept-for removed so no other run proposes it too.
 */
export async function takeOverBase(runId: string, base: TargetBase, deps: FailbackDeps): Promise<void> {
  await deps.compute.createTags([base.snapshotId], { [BASE_OF_TAG]: runId });
  await deps.compute.deleteTags([base.snapshotId], [KEPT_FOR_TAG]);
}
