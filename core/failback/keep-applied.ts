import { baseProof, keptEarlierProof, lastAcknowledgedPass, type Proof } from './keep-target.js';
import {
  HOLDS_PASS_TAG,
  holdsPass,
  KEPT_FOR_RECORDS,
  KEPT_FOR_TAG,
  KEPT_TARGET_FORMAT,
  type KeptTarget,
  type KeptTargetRecord,
  keptForKey,
  keptRecordKey,
  type TargetBase,
} from './kept-target.js';
import { type FailbackDeps, type RunVolume, runLayout } from './run-state.js';

/** What CleanUp needs to know of a rolled-back run whose passes an applier outside AWS (the agent) applied. */
export interface KeepAppliedInput {
  readonly runId: string;
  readonly volumes: readonly RunVolume[];
  /** Where the applier wrote the run's records (`<recordsPrefix>volumes/<key>/pass-NNNNNN/ack.json`). */
  readonly recordsPrefix: string;
  /** Whether the applier has provably stopped writing (the agent's Rollback succeeded), so no ack or write follows. */
  readonly applierStopped: boolean;
  /** The kept snapshots the run's first pass started from (what a disk holds when no pass of this run reached it). */
  readonly bases: readonly TargetBase[];
}

/**
 * Keeps, per takeover volume of a rolled-back run applied by the on-prem agent, the last snapshot its disk provably
 * holds: the agent's signed ack of the last applied pass (MAC'd with the run key), copied into the kept record
 * `records/<runId>/kept/<volumeKey>.json` as keepTargets does with a gateway's ack, and the snapshot tagged
 * `homebound:kept-for` = the takeover volume. There is no target EBS volume: the disk is the agent's, named per
 * volume, and the next run's agent proves from its applier journal that the disk still holds this snapshot
 * (core/agent/held-snapshots.ts). The same conditions as keepTargets: the applier stopped, no sealed pass after the
 * acknowledged one; else nothing is kept for the volume and the reason says why.
 */
export async function keepAppliedPasses(input: KeepAppliedInput, deps: FailbackDeps): Promise<KeptTarget[]> {
  const kept: KeptTarget[] = [];
  for (const volume of input.volumes) {
    const proof = await proveApplied(input, volume, deps);
    if ('reason' in proof) {
      kept.push({ volumeKey: volume.volumeKey, reason: proof.reason });
      continue;
    }
    const record: KeptTargetRecord = {
      format: KEPT_TARGET_FORMAT,
      runId: input.runId,
      volumeKey: volume.volumeKey,
      takeoverVolumeId: volume.volumeId,
      snapshotId: proof.ack.snapshotId,
      passNumber: proof.ack.passNumber,
      ackRunId: proof.ackRunId,
      ack: proof.ack,
      keptAt: deps.now().toISOString(),
    };
    const body = Buffer.from(JSON.stringify(record, null, 2));
    await (deps.recordStaging ?? deps.staging)(runLayout.record(input.runId)).put(
      keptRecordKey(volume.volumeKey),
      body,
    );
    await (deps.recordStaging ?? deps.staging)(KEPT_FOR_RECORDS).put(keptForKey(volume.volumeId), body);
    await deps.compute.createTags([record.snapshotId], {
      [KEPT_FOR_TAG]: volume.volumeId,
      [HOLDS_PASS_TAG]: holdsPass(input.runId, record.passNumber),
    });
    kept.push({ volumeKey: volume.volumeKey, snapshotId: record.snapshotId, passNumber: record.passNumber });
  }
  return kept;
}

async function proveApplied(input: KeepAppliedInput, volume: RunVolume, deps: FailbackDeps): Promise<Proof> {
  // A retried CleanUp: the first attempt kept the record, then deleted the agent's records it was proven from.
  const earlier = await keptEarlier(input.runId, volume, deps);
  if (earlier) return earlier;
  if (!input.applierStopped) return { reason: 'the agent did not confirm it stopped writing the disk' };
  const last = await lastAcknowledgedPass(
    { runId: input.runId, volumeKey: volume.volumeKey, recordsPrefix: input.recordsPrefix, target: 'disk' },
    deps,
  );
  return last === 'none' ? carriedForward(input, volume, deps) : last;
}

function keptEarlier(runId: string, volume: RunVolume, deps: FailbackDeps): Promise<Proof | undefined> {
  return keptEarlierProof(
    (deps.recordStaging ?? deps.staging)(runLayout.record(runId)),
    volume.volumeKey,
    (record) => record.takeoverVolumeId === volume.volumeId,
    deps,
  );
}

/** No pass of this run reached the disk: it still holds the kept snapshot the run started from, if any. */
function carriedForward(input: KeepAppliedInput, volume: RunVolume, deps: FailbackDeps): Promise<Proof> {
  const base = input.bases.find((candidate) => candidate.volumeKey === volume.volumeKey);
  return base
    ? baseProof(base, deps.recordStaging ?? deps.staging, deps)
    : Promise.resolve({ reason: 'no pass was applied to it' });
}
