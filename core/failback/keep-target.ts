import { ACK_KEY, MANIFEST_KEY, volumePrefix } from '../engine/layout.js';
import { PassAck, parseStagedJson } from '../engine/manifest.js';
import { hasValidMac } from '../engine/run-key.js';
import { SnapshotNotFoundError, StagedObjectMissingError } from '../errors.js';
import { GATEWAY_VOLUMES_DIR } from '../gateway/scope.js';
import type { Staging } from '../ports.js';
import { gatewayOfVolume } from './gateway-plan.js';
import {
  HOLDS_PASS_TAG,
  HOLDS_SNAPSHOT_TAG,
  holdsPass,
  KEPT_FOR_TAG,
  KEPT_TARGET_FORMAT,
  type KeptTarget,
  KeptTargetRecord,
  keptRecordKey,
  type TargetBase,
} from './kept-target.js';
import { type FailbackDeps, runLayout, type TargetState } from './run-state.js';

const PASS_KEY = /pass-(\d{6})\/([a-z]+\.json)$/;

/** What CleanUp needs to know of a rolled-back run to keep its target volumes. */
export interface KeepTargetsInput {
  readonly runId: string;
  readonly target: TargetState;
  /** Each target volume's takeover volume id, by volume key. */
  readonly takeoverVolumeIds: ReadonlyMap<string, string>;
  /** Target volumes attached to one of the run's gateways before they were terminated: volume id → gateway id. */
  readonly attachedToGateway: ReadonlyMap<string, string>;
  /** Whether every gateway of the run is terminated, so no ack or write can follow. */
  readonly gatewayGone: boolean;
}

/**
 * Decides, per target volume of a rolled-back run, which snapshot it provably holds, writes the kept record and tags
 * the volume and the snapshot (see kept-target.ts for the proof). A volume without proof is still kept (tagged with
 * the run, as before), only without a snapshot; the reason says why. A seeded target is kept untagged, its reason
 * saying how to return to the state its preservation snapshot keeps.
 */
export async function keepTargets(input: KeepTargetsInput, deps: FailbackDeps): Promise<KeptTarget[]> {
  const kept: KeptTarget[] = [];
  for (const volume of input.target.volumes) {
    const takeoverVolumeId = input.takeoverVolumeIds.get(volume.volumeKey) ?? volume.volumeKey;
    if (volume.seed) {
      // A seed is the original disk (or made from the operator's snapshot): not homebound's to tag for a next run.
      kept.push({
        volumeKey: volume.volumeKey,
        targetVolumeId: volume.targetVolumeId,
        reason: seedRollbackAdvice(volume.targetVolumeId, volume.seed.preservedAs),
      });
      continue;
    }
    const proof = await proveHeld(input, volume, deps);
    if ('reason' in proof) {
      kept.push({ volumeKey: volume.volumeKey, targetVolumeId: volume.targetVolumeId, reason: proof.reason });
      continue;
    }
    const record: KeptTargetRecord = {
      format: KEPT_TARGET_FORMAT,
      runId: input.runId,
      volumeKey: volume.volumeKey,
      takeoverVolumeId,
      targetVolumeId: volume.targetVolumeId,
      snapshotId: proof.ack.snapshotId,
      passNumber: proof.ack.passNumber,
      ackRunId: proof.ackRunId,
      ack: proof.ack,
      keptAt: deps.now().toISOString(),
    };
    await deps
      .staging(runLayout.record(input.runId))
      .put(keptRecordKey(volume.volumeKey), Buffer.from(JSON.stringify(record, null, 2)));
    const tags = { [KEPT_FOR_TAG]: takeoverVolumeId, [HOLDS_PASS_TAG]: holdsPass(input.runId, record.passNumber) };
    await deps.compute.createTags([volume.targetVolumeId], { ...tags, [HOLDS_SNAPSHOT_TAG]: record.snapshotId });
    await deps.compute.createTags([record.snapshotId], tags);
    kept.push({
      volumeKey: volume.volumeKey,
      targetVolumeId: volume.targetVolumeId,
      snapshotId: record.snapshotId,
      passNumber: record.passNumber,
    });
  }
  return kept;
}

/** What a rollback says of a seeded target: it stays as written so far, and how to return to its state before. */
export function seedRollbackAdvice(targetVolumeId: string, preservedAs: string): string {
  return `seeded target ${targetVolumeId} is left as the run wrote it so far (not deleted); its state before the run is snapshot ${preservedAs}: to return to it, create a volume from that snapshot (or restore it in place) before using ${targetVolumeId} again`;
}

async function proveHeld(
  input: KeepTargetsInput,
  volume: TargetState['volumes'][number],
  deps: FailbackDeps,
): Promise<Proof> {
  // A retried CleanUp: the first attempt proved it (while the gateway still showed its volumes) and kept the record.
  const earlier = await keptEarlier(input.runId, volume, deps);
  if (earlier) return earlier;
  if (!input.gatewayGone) return { reason: 'the sync gateways were not terminated in time; one might still write' };
  const gatewayHostId = gatewayOfVolume(input.target, volume.volumeKey);
  if (input.attachedToGateway.get(volume.targetVolumeId) !== gatewayHostId) {
    return {
      reason: `it was no longer attached to the sync gateway ${gatewayHostId} that held it (a failback host may have written it)`,
    };
  }
  const scope = runLayout.gatewayScope(input.runId, deps.compute.instanceArn(gatewayHostId));
  const last = await lastAcknowledgedPass(
    { runId: input.runId, volumeKey: volume.volumeKey, recordsPrefix: scope, target: 'volume' },
    deps,
  );
  return last === 'none' ? carriedForward(input, volume, deps) : last;
}

/**
 * The last pass the applier (a sync gateway, the on-prem agent) acknowledged for a volume of a rolled-back run, when
 * that is provably what its target holds: no pass sealed after it (the target may hold part of one), its ack MAC'd
 * with the run key, its snapshot still there. `none` when no pass was acknowledged; else why nothing is proven.
 */
export async function lastAcknowledgedPass(
  applied: {
    readonly runId: string;
    readonly volumeKey: string;
    /** Where the applier wrote the run's records (its acks under `volumes/`). */
    readonly recordsPrefix: string;
    /** What the applier writes, as the reasons name it: `volume`, `disk`. */
    readonly target: string;
  },
  deps: FailbackDeps,
): Promise<{ ack: PassAck; ackRunId: string } | { reason: string } | 'none'> {
  if (!deps.gatewayRunKey) return { reason: 'no run key to verify the acks with' };
  const records = deps.staging(applied.recordsPrefix + GATEWAY_VOLUMES_DIR);
  const acked = passNumbers(await records.list(volumePrefix(applied.volumeKey)), ACK_KEY);
  const sealed = passNumbers(
    await deps.staging(runLayout.volumes(applied.runId)).list(volumePrefix(applied.volumeKey)),
    MANIFEST_KEY,
  );
  const last = Math.max(0, ...acked);
  const unacked = sealed.filter((pass) => pass > last);
  if (unacked.length > 0) {
    return {
      reason: `pass ${Math.min(...unacked)} was sealed but not acknowledged: the ${applied.target} may hold part of it`,
    };
  }
  if (last === 0) return 'none';
  const key = `${volumePrefix(applied.volumeKey)}pass-${String(last).padStart(6, '0')}/${ACK_KEY}`;
  const ack = parseStagedJson(PassAck, await records.get(key), key);
  if (!hasValidMac(await deps.gatewayRunKey(applied.runId), ack) || ack.volumeKey !== applied.volumeKey) {
    return { reason: `the ack of pass ${last} does not verify with the run key` };
  }
  if (!(await snapshotCompleted(ack.snapshotId, deps))) return { reason: `snapshot ${ack.snapshotId} is gone` };
  return { ack, ackRunId: applied.runId };
}

/**
 * No pass of this run reached the volume: it still holds what the run started from, when that was a kept
 * volume's snapshot (its proof, an earlier run's signed ack, is carried over unchanged).
 */
function carriedForward(
  input: KeepTargetsInput,
  volume: TargetState['volumes'][number],
  deps: FailbackDeps,
): Promise<Proof> {
  const base = input.target.bases?.find((candidate) => candidate.volumeKey === volume.volumeKey);
  return base ? baseProof(base, deps.staging, deps) : Promise.resolve({ reason: 'no pass was applied to it' });
}

/** A retried CleanUp: what the first attempt kept for the volume, if it still `matches` and its snapshot is there. */
function keptEarlier(
  runId: string,
  volume: TargetState['volumes'][number],
  deps: FailbackDeps,
): Promise<Proof | undefined> {
  return keptEarlierProof(
    deps.staging(runLayout.record(runId)),
    volume.volumeKey,
    (record) => record.targetVolumeId === volume.targetVolumeId,
    deps,
  );
}

/** The proof of what a kept target holds: the applier's signed ack and the run whose key signed it, or why none. */
export type Proof = { ack: PassAck; ackRunId: string } | { reason: string };

/** The kept record of `volumeKey` that a run wrote (`records` rooted at its record prefix), or undefined. */
export async function readKeptRecord(records: Staging, volumeKey: string): Promise<KeptTargetRecord | undefined> {
  const key = keptRecordKey(volumeKey);
  const body = await records.get(key).catch((error: unknown) => {
    if (error instanceof StagedObjectMissingError) return undefined;
    throw error;
  });
  return body === undefined ? undefined : parseStagedJson(KeptTargetRecord, body, key);
}

/** A retried CleanUp's own kept record as the proof, when it `matches` the volume and its snapshot is still there. */
export async function keptEarlierProof(
  records: Staging,
  volumeKey: string,
  matches: (record: KeptTargetRecord) => boolean,
  deps: FailbackDeps,
): Promise<Proof | undefined> {
  const record = await readKeptRecord(records, volumeKey);
  if (!record || !matches(record) || !(await snapshotCompleted(record.snapshotId, deps))) return undefined;
  return { ack: record.ack, ackRunId: record.ackRunId };
}

/**
 * The proof a base carries over to a run no pass of which reached the target: the earlier run's kept record of it
 * (in the bucket `recordStaging` names), while the base's snapshot is still there.
 */
export async function baseProof(
  base: TargetBase,
  recordStaging: (prefix: string) => Staging,
  deps: FailbackDeps,
): Promise<Proof> {
  const key = keptRecordKey(base.volumeKey);
  const records = recordStaging(runLayout.record(base.provenBy.runId));
  const earlier = parseStagedJson(KeptTargetRecord, await records.get(key), key);
  if (earlier.snapshotId !== base.snapshotId || !(await snapshotCompleted(base.snapshotId, deps))) {
    return { reason: `its base snapshot ${base.snapshotId} is gone` };
  }
  return { ack: earlier.ack, ackRunId: earlier.ackRunId };
}

export async function snapshotCompleted(snapshotId: string, deps: FailbackDeps): Promise<boolean> {
  const found = await deps.compute.describeSnapshots([snapshotId]).catch((error: unknown) => {
    if (error instanceof SnapshotNotFoundError) return [];
    throw error;
  });
  return found[0]?.state === 'completed';
}

/** The pass numbers of the keys ending in `pass-NNNNNN/<file>`. */
export function passNumbers(keys: readonly string[], file: string): number[] {
  return keys.flatMap((key) => {
    const match = PASS_KEY.exec(key);
    return match?.[1] && match[2] === file ? [Number(match[1])] : [];
  });
}
