import type { VolumeInfo } from '../compute/port.js';
import { hasValidMac } from '../engine/run-key.js';
import { SnapshotNotFoundError } from '../errors.js';
import { readKeptRecord } from './keep-target.js';
import {
  BASE_OF_TAG,
  HOLDS_PASS_TAG,
  HOLDS_SNAPSHOT_TAG,
  KEPT_FOR_TAG,
  type KeptTargetRecord,
  keptRecordKey,
  parseHoldsPass,
  type TargetBase,
} from './kept-target.js';
import { type FailbackDeps, RUN_TAG, type RunVolume, runLayout } from './run-state.js';

/** Tag on a target volume naming the takeover volume it copies. */
export const SOURCE_VOLUME_TAG = 'homebound:source-volume';

/** A kept target volume this run takes over, and the snapshot it provably holds. */
export interface AdoptedTarget {
  readonly targetVolumeId: string;
  readonly base: TargetBase;
}

/**
 * Finds the target volume a rolled-back run kept for `volume` (by its kept-for tag, within this deployment's stack
 * tag; or, when PrepareTarget is retried, the one this run already took over) and checks that it provably holds its
 * snapshot: the kept record names this volume and this takeover volume, its ack verifies with the gateway key of the
 * run that wrote it, the volume's tags agree, the snapshot is completed and of this takeover volume, the volume is
 * attached nowhere (or to this run's gateway) and large enough. Takes it over (tagged with this run, kept-for
 * removed, so no other run takes it too) and returns it; otherwise returns the reason a full pass is needed.
 */
export async function adoptKeptTarget(
  runId: string,
  volume: RunVolume,
  deps: FailbackDeps,
): Promise<AdoptedTarget | { reason: string }> {
  const candidates = [
    ...(await deps.compute.findVolumes({ [RUN_TAG]: runId, [SOURCE_VOLUME_TAG]: volume.volumeId })).filter(
      (candidate) => candidate.tags[HOLDS_PASS_TAG] !== undefined,
    ),
    ...(await deps.compute.findVolumes({ [KEPT_FOR_TAG]: volume.volumeId })),
  ];
  if (candidates.length === 0) return { reason: `no target volume was kept for ${volume.volumeId}` };
  const reasons: string[] = [];
  for (const candidate of candidates) {
    const checked = await check(runId, volume, candidate, deps);
    if ('reason' in checked) {
      reasons.push(`${candidate.volumeId}: ${checked.reason}`);
      continue;
    }
    await deps.compute.createTags([candidate.volumeId], { [RUN_TAG]: runId });
    await deps.compute.deleteTags([candidate.volumeId], [KEPT_FOR_TAG]);
    await deps.compute.createTags([checked.base.snapshotId], { [BASE_OF_TAG]: runId });
    await deps.compute.deleteTags([checked.base.snapshotId], [KEPT_FOR_TAG]);
    return { targetVolumeId: candidate.volumeId, base: checked.base };
  }
  return { reason: `the kept target of ${volume.volumeId} is not proven to hold its snapshot (${reasons.join('; ')})` };
}

async function check(
  runId: string,
  volume: RunVolume,
  candidate: VolumeInfo,
  deps: FailbackDeps,
): Promise<{ base: TargetBase } | { reason: string }> {
  const holds = parseHoldsPass(candidate.tags[HOLDS_PASS_TAG]);
  if (!holds) return { reason: `its ${HOLDS_PASS_TAG} tag is missing or malformed` };
  if (candidate.sizeBytes < volume.sizeBytes) {
    return { reason: `it has ${candidate.sizeBytes} bytes, the takeover volume ${volume.sizeBytes}` };
  }
  if (candidate.attachedTo !== undefined) {
    const [host] = await deps.compute.describeHosts({ hostIds: [candidate.attachedTo] });
    if (host?.role !== 'gateway' || host.tags[RUN_TAG] !== runId)
      return { reason: `attached to ${candidate.attachedTo}` };
  }
  const record = await readKeptRecord(deps.staging(runLayout.record(holds.runId)), volume.volumeKey);
  if (!record) return { reason: `no kept record records/${holds.runId}/${keptRecordKey(volume.volumeKey)}` };
  const { ack } = record;
  if (
    record.targetVolumeId !== candidate.volumeId ||
    record.takeoverVolumeId !== volume.volumeId ||
    record.passNumber !== holds.passNumber ||
    record.snapshotId !== candidate.tags[HOLDS_SNAPSHOT_TAG] ||
    ack.snapshotId !== record.snapshotId ||
    ack.passNumber !== record.passNumber ||
    ack.volumeKey !== record.volumeKey
  ) {
    return { reason: `its kept record does not match its tags (${holds.runId}, pass ${holds.passNumber})` };
  }
  if (!deps.gatewayRunKey || !hasValidMac(await deps.gatewayRunKey(record.ackRunId), ack)) {
    return { reason: `the ack in its kept record does not verify with run ${record.ackRunId}'s gateway key` };
  }
  return baseFromKeptRecord(record, volume, deps);
}

/** The kept record's snapshot as the base of `volume`'s next pass, when it is still a completed snapshot of it. */
export async function baseFromKeptRecord(
  record: KeptTargetRecord,
  volume: RunVolume,
  deps: FailbackDeps,
): Promise<{ base: TargetBase } | { reason: string }> {
  const [snapshot] = await deps.compute.describeSnapshots([record.snapshotId]).catch((error: unknown) => {
    if (error instanceof SnapshotNotFoundError) return [];
    throw error;
  });
  if (snapshot?.state !== 'completed' || snapshot.volumeId !== volume.volumeId) {
    return { reason: `snapshot ${record.snapshotId} of ${volume.volumeId} is gone or not completed` };
  }
  return {
    base: {
      volumeKey: volume.volumeKey,
      snapshotId: record.snapshotId,
      provenBy: { runId: record.runId, passNumber: record.passNumber },
    },
  };
}
