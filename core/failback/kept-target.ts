import { z } from 'zod';
import { PassAck } from '../engine/manifest.js';

/**
 * A target volume kept by a rolled-back (or failed) run, and the proof of what it holds, so the next run on the same
 * takeover volume can start with an incremental pass instead of a full one.
 *
 * Where the proof lives. The applier's journal (the record of which snapshot a target holds) is on the sync gateway's
 * root volume and goes with the gateway at clean-up. What survives is the journal's last committed pass as the
 * gateway itself published it: its ack, HMAC-signed with the run's gateway key (core/engine/run-key.ts), which only
 * that run's gateway (and the control plane, which derives the key from the stack's secret) can make. CleanUp copies
 * that signed ack into the kept run record, `records/<runId>/kept/<volumeKey>.json` (kept; never expired by the
 * staging lifecycle rule), after the gateway is terminated, and only when nothing else can have written the volume:
 * it was still attached to the run's gateway (never moved to a failback host), the gateway is gone, and no pass after
 * the acknowledged one was sealed (the applier writes a pass only once its manifest seals it). The next run's
 * PrepareTarget re-verifies the MAC, the ids and tags on both sides and the snapshot, and only then tells the new
 * gateway's applier that its target holds that snapshot. Anything that does not check out means a full pass, with
 * the reason in the run report. A dedicated journal volume was rejected (one more volume per run to create, attach
 * and pay for) and re-hashing the whole target was rejected (it reads every byte of every volume, the cost the
 * incremental pass exists to avoid).
 *
 * What the proof cannot see: a person attaching a kept volume and writing to it outside homebound. The kept volume
 * stays unattached and tagged; docs/operations.md says not to attach it, or to delete its kept-for tag if one did.
 */

/** Tag on a kept target volume and its snapshot: the takeover volume whose next run may start from them. */
export const KEPT_FOR_TAG = 'homebound:kept-for';
/** Tag on a kept target volume and its snapshot: `<runId>/<passNumber>`, the pass the volume holds. */
export const HOLDS_PASS_TAG = 'homebound:holds-pass';
/** Tag on a kept target volume: the snapshot it holds exactly. */
export const HOLDS_SNAPSHOT_TAG = 'homebound:holds-snapshot';
/** Tag on a kept snapshot a later run started from: that run's id (its CleanUp keeps or deletes it). */
export const BASE_OF_TAG = 'homebound:base-of';

export const KEPT_TAGS: readonly string[] = [KEPT_FOR_TAG, HOLDS_PASS_TAG, HOLDS_SNAPSHOT_TAG];

export const KEPT_TARGET_FORMAT = 'homebound.kept-target/v1';

/** The kept run record of one target volume. */
export const KeptTargetRecord = z.object({
  format: z.literal(KEPT_TARGET_FORMAT),
  /** The run that kept the volume (whose record this is). */
  runId: z.string(),
  volumeKey: z.string(),
  takeoverVolumeId: z.string(),
  /**
   * The kept target EBS volume (automated method). Absent for an on-prem disk (conditional-automated): the disk is
   * named per volume and found by the next run's agent, whose applier journal proves what it holds.
   */
  targetVolumeId: z.string().optional(),
  snapshotId: z.string(),
  passNumber: z.number().int().positive(),
  /** The run whose gateway signed `ack`: this run, or an earlier one whose kept volume this run took over unchanged. */
  ackRunId: z.string(),
  ack: PassAck,
  keptAt: z.string(),
});
export type KeptTargetRecord = z.infer<typeof KeptTargetRecord>;

/** Where a run keeps the record of a kept target volume, below `records/<runId>/`. */
export const keptRecordKey = (volumeKey: string) => `kept/${volumeKey}.json`;

/**
 * Where the newest kept record of an on-prem disk is also written, keyed by its takeover volume: there is no kept
 * target EBS volume whose tags name the run, so this is how the next run finds it (records/ is never expired).
 */
export const KEPT_FOR_RECORDS = 'records/kept-for/';
export const keptForKey = (takeoverVolumeId: string) => `${takeoverVolumeId}.json`;

/** `<runId>/<passNumber>` ⇄ its parts. */
export const holdsPass = (runId: string, passNumber: number) => `${runId}/${passNumber}`;
export function parseHoldsPass(tag: string | undefined): { runId: string; passNumber: number } | undefined {
  const match = /^([A-Za-z0-9][A-Za-z0-9_-]{0,79})\/([1-9][0-9]*)$/.exec(tag ?? '');
  return match?.[1] && match[2] ? { runId: match[1], passNumber: Number(match[2]) } : undefined;
}

/** The snapshot a run's first pass starts from on one volume, proven held by its kept target volume. */
export const TargetBase = z.object({
  volumeKey: z.string(),
  snapshotId: z.string(),
  /** The kept record that proved it (its run and pass). */
  provenBy: z.object({ runId: z.string(), passNumber: z.number().int().positive() }),
});
export type TargetBase = z.infer<typeof TargetBase>;

/** How a run's first pass starts, and why: the report's `firstPass`. */
export const FirstPass = z.object({ kind: z.enum(['full', 'incremental', 'seeded']), reason: z.string() });
export type FirstPass = z.infer<typeof FirstPass>;

/** A volume a rolled-back run kept (CleanUp's result, the report's `keptTargets`). */
export const KeptTarget = z.object({
  volumeKey: z.string(),
  /** Absent for an on-prem disk (kept by the agent, not an EBS volume). */
  targetVolumeId: z.string().optional(),
  /** Absent when the volume is kept without a proven snapshot (the next run makes a full pass onto a new volume). */
  snapshotId: z.string().optional(),
  passNumber: z.number().int().positive().optional(),
  /** Why no snapshot is kept for it, when none is. */
  reason: z.string().optional(),
});
export type KeptTarget = z.infer<typeof KeptTarget>;
