import { BLOCK_SIZE } from '../blocks.js';
import { type PassLimit, type PassVolume, passTime } from './pass-time.js';
import { changedBlocks, type EstimatePlan, type VolumeLoad, volumeLoads } from './plan.js';
import type { ThroughputProfile } from './profile.js';

const MiB = 1024 * 1024;

/** One predicted pass, as the drill's report and the run record count them. */
export interface EstimatedPass {
  readonly number: number;
  readonly kind: 'full' | 'incremental';
  /** `catch-up`: the pass right after approval, takeover hosts still serving; `final`: after they stopped. */
  readonly role: 'sync' | 'catch-up' | 'final';
  /** Blocks listed over every volume, and their bytes (RecordPass's bytesChanged). */
  readonly blocks: number;
  readonly bytesChanged: number;
  /** Snapshot taken → applied on every gateway (as RecordPass measures it, see `snapshotBeforeStart`). */
  readonly seconds: number;
  readonly snapshotSeconds: number;
  readonly streamSeconds: number;
  readonly applySeconds: number;
  readonly blocksPerSecond: number;
  readonly invocationsPerVolume: number;
  readonly limitedBy: PassLimit;
  /** Converged after this pass: incremental and at most the threshold, or the pass limit reached. */
  readonly converged: boolean;
}

export interface FailbackEstimate {
  readonly format: 'homebound.estimate/v1';
  readonly profile: string;
  readonly hosts: number;
  readonly volumes: number;
  readonly thresholdMiB: number;
  readonly maxPasses: number;
  readonly passes: readonly EstimatedPass[];
  /** The pass after which the run first converged (the approval is asked then). */
  readonly passesToConvergence: number;
  /** Whether that was by the threshold (true) or by reaching maxPasses (false). */
  readonly convergedByThreshold: boolean;
  /** Every pass's seconds added up: full, incremental, catch-up and final. */
  readonly syncSeconds: number;
  readonly finalPass: EstimatedPass;
  /** Takeover hosts stopped → failback hosts verified: stopping them, the final pass, the cutover. */
  readonly downtimeSeconds: number;
}

function passVolumes(loads: readonly VolumeLoad[], blocks: readonly number[]): PassVolume[] {
  return loads.map((load, i) => ({ hostIndex: load.hostIndex, blocks: Math.round(blocks[i] ?? 0) }));
}

/**
 * Predicts a failback of `plan` under `profile`, pass by pass, as the automated state machine runs it: a full pass
 * of every used block; incremental passes of the blocks written since the previous snapshot until one carries at most
 * the threshold (or maxPasses is reached, RecordPass's rule); failback hosts launched and the approval; a catch-up
 * pass; the takeover hosts stopped; the final pass; the cutover. The time between two snapshots is the earlier pass
 * plus what runs between the passes, so each incremental pass follows from the one before.
 */
export function estimateFailback(plan: EstimatePlan, profile: ThroughputProfile): FailbackEstimate {
  const loads = volumeLoads(plan);
  const threshold = plan.convergence.thresholdMiB * MiB;
  const passes: EstimatedPass[] = [];
  /** Seconds from one snapshot to the next, besides the pass itself. */
  const snapshotToSnapshot = (pass: EstimatedPass) =>
    pass.seconds + profile.passGapSeconds + (profile.snapshotBeforeStart ? pass.snapshotSeconds : 0);

  const run = (role: EstimatedPass['role'], blocks: readonly number[], kind: 'full' | 'incremental') => {
    const time = passTime(passVolumes(loads, blocks), profile, { first: passes.length === 0 });
    const listed = blocks.reduce((sum, count) => sum + Math.round(count), 0);
    const bytesChanged = listed * BLOCK_SIZE;
    const number = passes.length + 1;
    const pass: EstimatedPass = {
      number,
      kind,
      role,
      blocks: listed,
      bytesChanged,
      seconds: (profile.snapshotBeforeStart ? 0 : time.snapshotSeconds) + time.streamSeconds + time.applySeconds,
      snapshotSeconds: time.snapshotSeconds,
      streamSeconds: time.streamSeconds,
      applySeconds: time.applySeconds,
      blocksPerSecond: time.blocksPerSecond,
      invocationsPerVolume: time.invocationsPerVolume,
      limitedBy: time.limitedBy,
      converged: (kind === 'incremental' && bytesChanged <= threshold) || number >= plan.convergence.maxPasses,
    };
    passes.push(pass);
    return pass;
  };
  const writtenIn = (seconds: number) => loads.map((load) => changedBlocks(load, seconds));

  let last = run(
    'sync',
    loads.map((load) => load.usedBlocks),
    'full',
  );
  while (!last.converged) last = run('sync', writtenIn(snapshotToSnapshot(last)), 'incremental');
  const passesToConvergence = last.number;
  const convergedByThreshold = last.kind === 'incremental' && last.bytesChanged <= threshold;

  // Approval: the failback hosts launch, a person decides, then one more pass while the takeover hosts serve — and
  // more if that one is not converged (the state machine loops back to SnapshotVolumes).
  let interval = snapshotToSnapshot(last) + profile.launchFailbackSeconds + plan.approvalSeconds;
  last = run('catch-up', writtenIn(interval), 'incremental');
  while (!last.converged) last = run('catch-up', writtenIn(snapshotToSnapshot(last)), 'incremental');

  // The takeover hosts write until they have stopped; the final snapshot holds everything since the catch-up's.
  interval = snapshotToSnapshot(last) + profile.stopTakeoverSeconds;
  const finalPass = run('final', writtenIn(interval), 'incremental');
  const downtimeSeconds =
    profile.stopTakeoverSeconds +
    (profile.snapshotBeforeStart ? finalPass.snapshotSeconds : 0) +
    finalPass.seconds +
    profile.passGapSeconds +
    profile.cutoverSeconds;

  return {
    format: 'homebound.estimate/v1',
    profile: profile.name,
    hosts: plan.hosts.length,
    volumes: loads.length,
    thresholdMiB: plan.convergence.thresholdMiB,
    maxPasses: plan.convergence.maxPasses,
    passes,
    passesToConvergence,
    convergedByThreshold,
    syncSeconds: passes.reduce((sum, pass) => sum + pass.seconds, 0),
    finalPass,
    downtimeSeconds,
  };
}
