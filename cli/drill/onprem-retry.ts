import type { Host } from '../../core/compute/port.js';
import { KEPT_FOR_TAG } from '../../core/failback/kept-target.js';
import type { LocalFailback } from '../../core/wiring/local.js';
import { type KeptState, MAX_STAGED_RATIO } from './reject-then-retry.js';
import type { OnPremDrillReport } from './run-onprem-drill.js';

/** `--reject-then-retry` on the on-prem drill: what the rejected run left and how the retried run started. */
export interface OnPremRetryCheck {
  readonly first: Pick<OnPremDrillReport, 'runId' | 'status' | 'verified' | 'passes' | 'vms'> & {
    readonly reason?: string | undefined;
    readonly takeoverState: string;
    readonly writesLost: number;
  };
  /** The rejected run's disks still on the datastore (or the operator's image files) after its rollback. */
  readonly disksKept: number;
  /** One per takeover volume whose disk's last proven snapshot was kept (tagged homebound:kept-for). */
  readonly keptSnapshots: readonly { readonly volumeId: string; readonly snapshotId: string }[];
  readonly firstPass: {
    readonly kind: string;
    readonly bytesStaged: number;
    readonly bytesChanged: number;
  };
  /** Bytes changed between each kept snapshot and the retried run's first snapshot, from the snapshot store. */
  readonly bytesChangedSinceKept: number;
  /** firstPass.bytesStaged / bytesChangedSinceKept. */
  readonly stagedRatio: number;
  readonly maxStagedRatio: number;
  /** The rejected run rolled back as it must, and the retried one started incremental within the bound, verified. */
  readonly ok: boolean;
}

/**
 * The snapshots the rejected run kept, found by tag as the next run's PlanOnPremRun finds them. The on-prem disk
 * has no EBS volume id; `targetVolumeId` (ChangedSinceKept's shape) names the disk by its takeover volume.
 */
export async function keptSnapshots(
  env: LocalFailback,
  hosts: readonly Host[],
): Promise<KeptState['snapshots'][number][]> {
  const kept: KeptState['snapshots'][number][] = [];
  for (const volume of hosts.flatMap((host) => host.volumes)) {
    const [snapshot] = await env.compute.findSnapshots({ [KEPT_FOR_TAG]: volume.volumeId });
    if (snapshot) {
      kept.push({
        volumeId: volume.volumeId,
        snapshotId: snapshot.snapshotId,
        targetVolumeId: `on-prem disk of ${volume.volumeId}`,
      });
    }
  }
  return kept;
}

export function retryCheck(
  first: OnPremDrillReport,
  kept: readonly { volumeId: string; snapshotId: string }[],
  second: OnPremDrillReport,
  bytesChangedSinceKept: number,
): OnPremRetryCheck {
  const pass = second.passes[0];
  const bytesStaged = pass?.bytesStaged ?? Number.NaN;
  const stagedRatio = bytesChangedSinceKept > 0 ? bytesStaged / bytesChangedSinceKept : Number.NaN;
  const firstRolledBack =
    first.status === 'rolled-back' &&
    first.verified &&
    first.hosts.every((host) => host.state === 'running') &&
    first.writes.lost.length === 0 &&
    first.vms.every((vm) => vm.powerState !== 'poweredOn');
  return {
    first: {
      runId: first.runId,
      status: first.status,
      ...(first.reason ? { reason: first.reason } : {}),
      verified: first.verified,
      passes: first.passes,
      vms: first.vms,
      takeoverState: [...new Set(first.hosts.map((host) => host.state))].join(', '),
      writesLost: first.writes.lost.length,
    },
    disksKept: first.vms.flatMap((vm) => vm.disks).length,
    keptSnapshots: kept.map(({ volumeId, snapshotId }) => ({ volumeId, snapshotId })),
    firstPass: { kind: pass?.kind ?? 'none', bytesStaged, bytesChanged: pass?.bytesChanged ?? Number.NaN },
    bytesChangedSinceKept,
    stagedRatio,
    maxStagedRatio: MAX_STAGED_RATIO,
    ok:
      firstRolledBack &&
      first.vms.flatMap((vm) => vm.disks).length === second.volumes.length &&
      kept.length === second.volumes.length &&
      pass?.kind === 'incremental' &&
      stagedRatio <= MAX_STAGED_RATIO &&
      second.status === 'succeeded' &&
      second.verified,
  };
}
