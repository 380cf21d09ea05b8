import type { HostState } from '../../core/compute/port.js';
import type { HostSettings } from '../../core/failback/run-state.js';
import type { RunFailure } from './run-history.js';
import type { VolumeCheck, WritesCheck } from './verify.js';

/**
 * How a drill ended. `succeeded`: every failback volume is byte-identical to its takeover volume as it stopped and holds
 * every write. `rolled-back`: the takeover hosts run again and every write they made is on their volumes.
 * `rollback-failed`: the rollback itself failed, production may be down (`leftToDo`); verified that nothing written was
 * lost. `refused`: the request failed before anything was created; verified that nothing was. `failed-after-cutover`:
 * production runs on the verified failback hosts but a later step failed (`leftToDo`); verified as `succeeded`.
 * `failed`: anything else.
 */
export type DrillStatus =
  | 'succeeded'
  | 'rolled-back'
  | 'rollback-failed'
  | 'refused'
  | 'failed-after-cutover'
  | 'failed';

/** `homebound drill --json`: what happened, and whether it checks out. */
export interface DrillReport {
  readonly format: 'homebound.drill-report/v1';
  readonly runId: string;
  readonly status: DrillStatus;
  /** Why the run rolled back or failed. */
  readonly reason?: string;
  /** Whether what `verifiedWhat` says holds (see DrillStatus for what each outcome checks). */
  readonly verified: boolean;
  /** What was checked, in one sentence (or why there was nothing to check). */
  readonly verifiedWhat: string;
  /** States that failed and were not retried, in order (an injected failure is DrillInjectedFailure). */
  readonly failures: readonly RunFailure[];
  /** `--fail-at` states the run never reached: the rehearsal did not rehearse them. */
  readonly failAtNotReached: readonly string[];
  /** What the run left for a person, found on the local cloud at the end (empty after a clean outcome). */
  readonly leftToDo: readonly string[];
  readonly options: Readonly<Record<string, unknown>>;
  readonly volumes: readonly VolumeCheck[];
  readonly writes: WritesCheck;
  readonly passes: readonly {
    readonly number: number;
    readonly kind: 'full' | 'incremental' | 'seeded';
    readonly final: boolean;
    readonly bytesChanged: number;
    readonly bytesStaged: number;
    readonly blocks: number;
    readonly seconds: number;
    /** When the pass started (ISO 8601): places the cutover decision among the passes in the HTML chart. */
    readonly startedAt?: string;
    /** A seeded pass: blocks of the snapshot read and compared with the seeds, and those carried because they differ. */
    readonly blocksCompared?: number;
    readonly blocksDiffering?: number;
  }[];
  readonly bytesChanged: number;
  readonly bytesStaged: number;
  /** Takeover hosts stopped → failback hosts verified (or takeover hosts serving again after a rollback); null when
   * the takeover hosts never stopped or are still down. The cutover phase has the same bounds. */
  readonly downtimeSeconds: number | null;
  /** What ended the downtime, or why there is none. */
  readonly downtimeUntil: string;
  /** The cutover decision as audited (absent when none was taken, e.g. a failure before approval or a timeout). */
  readonly decision?: {
    readonly outcome: string;
    readonly approver: string;
    readonly channel: string;
    readonly decidedAt: string;
  };
  readonly phases: readonly { readonly name: string; readonly seconds: number }[];
  readonly hosts: readonly {
    readonly hostId: string;
    readonly name: string;
    readonly role: string;
    readonly state: HostState;
    /** What the host runs as and where, as the local cloud describes it now. */
    readonly instanceType?: string;
    readonly subnetId?: string;
    readonly privateIp?: string;
    /** The cutover wave of a takeover host and of its failback host. */
    readonly wave?: number;
    /** A failback host: the takeover host it replaces. */
    readonly replaces?: string;
    /** A takeover host: the failback host that replaced it. */
    readonly failbackHostId?: string;
    /** A takeover host: what its failback host was asked to get (type, subnet, address after the remap, tags). */
    readonly settings?: HostSettings;
    /** A takeover host: its failback host's health checks at cutover (the last round); absent if its wave never started. */
    readonly healthChecks?: readonly { readonly name: string; readonly passed: boolean }[];
    /** A takeover host: when its wave had stopped (ISO). */
    readonly takeoverStoppedAt?: string;
    /** A takeover host: when its wave's failback hosts were started (ISO). */
    readonly failbackStartedAt?: string;
    /** A takeover host: when its wave's failback hosts had all passed their health checks (ISO). */
    readonly healthyAt?: string;
  }[];
  readonly startedAt: string;
  readonly seconds: number;
  /** `--reuse-original`: the seeds the drill made and what a seeded first pass should have staged. */
  readonly seeding?: DrillSeeding;
  /** `--reject-then-retry`: both executions, the rejected one first. */
  readonly runs?: readonly DrillRun[];
  /** `--reject-then-retry`: what the rejected run kept and how the retried run started from it. */
  readonly retry?: RetryCheck;
}

/** One execution of a drill that runs several (`--reject-then-retry`). */
export interface DrillRun {
  readonly runId: string;
  readonly status: DrillStatus;
  readonly reason?: string;
  readonly verified: boolean;
  /** What the run left for a person (a kept target volume and its snapshot are not left over: they are kept). */
  readonly leftToDo: readonly string[];
  /** From the run report: how the first pass started and why. */
  readonly firstPass?: { readonly kind: 'full' | 'incremental' | 'seeded'; readonly reason: string };
  /** From the run report of a rolled-back run: the target volumes kept and the snapshot each holds. */
  readonly keptTargets?: readonly {
    readonly volumeKey: string;
    /** Absent for an on-prem disk (the conditional-automated method keeps disks, not EBS volumes). */
    readonly targetVolumeId?: string | undefined;
    readonly snapshotId?: string | undefined;
    readonly passNumber?: number | undefined;
    readonly reason?: string | undefined;
  }[];
  readonly passes: DrillReport['passes'];
}

/** `--reject-then-retry`'s checks, all measured on the local cloud. */
export interface RetryCheck {
  /** The rejected run rolled back: the takeover host runs with every write it made. */
  readonly firstRunRolledBack: boolean;
  /** The rejected run's failback hosts not terminated by its clean-up (a stopped one would keep its address). */
  readonly failbackHostsLeftAfterRollback: readonly string[];
  /** Every takeover volume has a kept target volume (tagged homebound:kept-for). */
  readonly targetVolumesKept: boolean;
  readonly keptSnapshots: readonly {
    readonly volumeId: string;
    readonly snapshotId: string;
    readonly targetVolumeId: string;
  }[];
  /** The retried run's first pass. */
  readonly firstPass: {
    readonly kind: 'full' | 'incremental' | 'seeded';
    readonly reason: string;
    readonly bytesStaged: number;
    readonly bytesChanged: number;
  };
  /** Bytes that differ between each kept snapshot and the retried run's first snapshot, from the snapshot store. */
  readonly bytesChangedSinceKept: number;
  /** firstPass.bytesStaged / bytesChangedSinceKept. */
  readonly stagedRatio: number;
  readonly verified: boolean;
}

/** `drill --reuse-original`: the originals the drill made as seeds (cli/drill/reuse-original.ts). */
export interface DrillSeeding {
  /** Share of each original's blocks the drill overwrote after copying it, in %. */
  readonly divergencePct: number;
  /** `--seed-unrelated`: the originals were random data, not copies. */
  readonly unrelated?: boolean;
  /**
   * (blocks the drill overwrote at home ∪ blocks the takeover workload wrote between the copy and the first pass's
   * snapshot) × 512 KiB: what the seeded first pass should carry at most.
   */
  readonly expectedDifferingBytes: number;
  /** The snapshots keeping each original's state from before the run (tagged homebound:preserves-seed-of). */
  readonly preservedAs: readonly string[];
  /** Whether every preservation snapshot holds its original exactly as the run found it (where the drill checks it). */
  readonly preservedIntact?: boolean;
  /** Each original: its takeover volume, its image's SHA-256 before the run, the snapshot keeping that state. */
  readonly originals?: readonly {
    readonly takeoverVolumeId: string;
    readonly originalVolumeId: string;
    readonly sizeBytes: number;
    readonly sha256: string;
    readonly preservedAs?: string;
    /** Blocks the drill overwrote on it after the copy. */
    readonly blocksDiverged: number;
  }[];
  /** The run's warnings about its seeds (e.g. a seed that saved nothing). */
  readonly warnings: readonly string[];
}
