import { HomeboundError } from '../errors.js';

/**
 * The target platform port: what the on-prem agent (core/agent/) asks the site it fails back to, for one run. The
 * agent owns the data path (it applies staged passes to the disk paths `prepare` returns); a platform owns the
 * inventory: disks, failback hosts (VMs), power. Implementations: `manual` (core/onprem/manual-platform.ts — the
 * operator prepared disks and hosts; nothing is booted by homebound) and `vsphere` (vim25 SOAP against vCenter).
 *
 * Every method is idempotent for a run (the activity that calls it may be retried after an agent restart or a lost
 * answer) and takes an AbortSignal: the agent aborts when the state gave up (heartbeat timeout) or it is stopping.
 */

/** A takeover host, as the failback host made for it must match: name, size. */
export interface PlatformHost {
  /** The takeover host's id (e.g. an EC2 instance id); names the failback host's origin in tags/annotations. */
  readonly hostId: string;
  readonly name: string;
  readonly instanceType: string;
  /** vCPUs and memory of the instance type (EC2 DescribeInstanceTypes): the failback VM gets the same. */
  readonly vCpus: number;
  readonly memoryMiB: number;
  /** The failback VM's name the request asks (`hosts[].failback.vmName`). @default the platform's naming */
  readonly vmName?: string | undefined;
  /** Where the request asks the VM to go; a platform that cannot place it there refuses (never ignores) it. */
  readonly placement?: FailbackPlacement | undefined;
  /**
   * The request's seed (`hosts[].failback.seed`): an existing VM — the original production VM, by name or folder
   * path — whose disks, in device order, become the target disks and which is the failback VM itself. `powerOff`:
   * the request's `target.powerOffSeed`, whether the agent may power it off when it finds it running.
   */
  readonly seed?: { readonly vm: string; readonly powerOff: boolean } | undefined;
}

/** A failback VM's placement by name, as the request's `hosts[].failback` gives it (absent: the agent's config). */
export interface FailbackPlacement {
  readonly folder?: string | undefined;
  readonly resourcePool?: string | undefined;
  readonly datastore?: string | undefined;
  readonly portGroup?: string | undefined;
}

/** A takeover volume: the target disk made for it has at least its size and sits at its device order on the host. */
export interface PlatformVolume {
  readonly volumeId: string;
  readonly hostId: string;
  /** Names the volume in staging (`<volumeKey>/pass-NNNNNN/`). */
  readonly volumeKey: string;
  /** Position among the host's disks, 0 = the boot disk. */
  readonly deviceIndex: number;
  readonly sizeBytes: number;
}

/** One failback run as a platform sees it. */
export interface PlatformRun {
  readonly runId: string;
  readonly hosts: readonly PlatformHost[];
  readonly volumes: readonly PlatformVolume[];
}

/** Where the agent writes one takeover volume. */
export interface PreparedDisk {
  readonly volumeId: string;
  readonly volumeKey: string;
  /**
   * A local path the agent opens for positional writes: a regular (sparse) image file or a block device — on vSphere
   * the disk's `-flat.vmdk` through the datastore's local mount.
   */
  readonly path: string;
  /** The disk's size; at least the volume's. */
  readonly sizeBytes: number;
  /** Whether this call made the disk (false: an existing one was reused). */
  readonly created: boolean;
  /** Where the platform keeps it, for people: `[LocalDS_0] run/db-1.vmdk`, or the path again. */
  readonly location: string;
  /**
   * Set for a seed VM's disk: it already holds (most of) the volume's data, and `preservedAs` names the copy of its
   * pre-failback state the platform made before returning it.
   */
  readonly seed?: { readonly vm: string; readonly preservedAs: string } | undefined;
}

/** A failback host the platform made or was given for a takeover host. */
export interface PreparedHost {
  readonly hostId: string;
  /** The failback host's name on the platform (the VM name). */
  readonly name: string;
  /** Powered off after `prepare`; `unknown` when the platform cannot tell (manual). */
  readonly powerState: PowerState;
}

export interface PreparedTarget {
  readonly disks: readonly PreparedDisk[];
  readonly hosts: readonly PreparedHost[];
}

export type PowerState = 'poweredOn' | 'poweredOff' | 'suspended' | 'unknown';

/** How a boot-related step ended. */
export type BootOutcome =
  | {
      /** The platform booted (or checked) the hosts itself and says how each is. */
      readonly confirmation: 'automatic';
      readonly hosts: readonly { readonly name: string; readonly up: boolean; readonly powerState: PowerState }[];
    }
  | {
      /**
       * The platform cannot boot or see the hosts (manual): a person must do it and confirm through the approval
       * page. The state machine waits for that confirmation; `instructions` says what to do.
       */
      readonly confirmation: 'operator';
      readonly instructions: string;
    };

/** A failback host as a wave's health checks see it: its power and where its guest answers. */
export interface FailbackHostStatus {
  /** The takeover host it replaces. */
  readonly hostId: string;
  /** The failback host's name on the platform. */
  readonly name: string;
  /** `unknown` when the platform cannot see it (manual) or it does not exist. */
  readonly powerState: PowerState;
  /** The guest's IP as the platform reports it (vSphere: VMware Tools' `guest.ipAddress`); absent when unknown. */
  readonly address?: string | undefined;
}

export interface RollbackOutcome {
  /** Failback hosts this call powered off (already off ones are not listed). Disks are always kept. */
  readonly poweredOff: readonly string[];
}

/** A failback host as the platform reports it (the drill's `vms`). */
export interface HostDescription {
  readonly name: string;
  readonly powerState: PowerState;
  readonly numCPU: number;
  readonly memoryMiB: number;
  readonly disks: readonly { readonly volumeId: string; readonly location: string; readonly sizeBytes: number }[];
}

/**
 * A run given to `verificationBoot`, `cutover` or `inspect` may be one cutover wave of it: its hosts and their volumes
 * only (core/agent/handle-operation.ts `waveOf`).
 */
export interface TargetPlatform {
  /** `manual`, `vsphere`: what the agent logs and answers with. */
  readonly kind: string;
  /**
   * Creates or reuses the target disks 1:1 with the run's volumes (each at least the volume's size) and the failback
   * hosts, powered off.
   * @throws TargetDiskTooSmallError naming an existing disk smaller than its volume; the platform's named errors.
   */
  prepare(run: PlatformRun, signal: AbortSignal): Promise<PreparedTarget>;
  /**
   * Boots the failback hosts so that the synced disks stay unchanged (e.g. independent-nonpersistent disks), checks
   * they came up, powers them off again.
   */
  verificationBoot(run: PlatformRun, signal: AbortSignal): Promise<BootOutcome>;
  /** Makes the disks persistent and powers the failback hosts on. The agent has stopped writing them by then. */
  cutover(run: PlatformRun, signal: AbortSignal): Promise<BootOutcome>;
  /** Whether the failback hosts are up after the cutover. */
  verify(run: PlatformRun, signal: AbortSignal): Promise<BootOutcome>;
  /** Each failback host's power state and guest IP now, for a wave's health checks (core/agent/wave-health.ts). */
  inspect(run: PlatformRun, signal: AbortSignal): Promise<readonly FailbackHostStatus[]>;
  /** Powers off every failback host of the run; keeps every disk (the next run continues from what they hold). */
  rollback(run: PlatformRun, signal: AbortSignal): Promise<RollbackOutcome>;
  describe(run: PlatformRun, signal: AbortSignal): Promise<readonly HostDescription[]>;
}

/** An existing target disk is smaller than the takeover volume it must hold; nothing was written to it. */
export class TargetDiskTooSmallError extends HomeboundError {
  constructor(
    readonly volumeId: string,
    readonly disk: string,
    readonly diskBytes: number,
    readonly volumeBytes: number,
  ) {
    super(
      `target disk ${disk} for volume ${volumeId} holds ${diskBytes} bytes but the volume is ${volumeBytes} bytes; give it a disk at least that large`,
    );
  }
}
