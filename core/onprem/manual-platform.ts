import { stat } from 'node:fs/promises';
import { openFileTarget, targetSize } from '../adapters/target/file-target.js';
import { WorkCancelledError } from '../errors.js';
import { TargetDiskInUseError, TargetDiskMissingError, TargetDiskNotConfiguredError } from './errors.js';
import { mountOf } from './mounts.js';
import {
  type BootOutcome,
  type FailbackHostStatus,
  type HostDescription,
  type PlatformRun,
  type PreparedDisk,
  type PreparedTarget,
  type RollbackOutcome,
  TargetDiskTooSmallError,
  type TargetPlatform,
} from './platform.js';

/** One operator-given target disk: a block device or an image file. */
export interface ManualDisk {
  readonly path: string;
  /** Create a sparse image file of the volume's size when `path` does not exist. @default false */
  readonly create?: boolean | undefined;
}

export interface ManualPlatformOptions {
  /** Target disk per takeover volume id. */
  readonly disks: Readonly<Record<string, ManualDisk>>;
  /** Where mounts are read from (tests). @default /proc/self/mounts */
  readonly mountsFile?: string;
}

/**
 * The `manual` platform, the general method: the operator prepared the failback hosts and their disks (Hyper-V, KVM,
 * bare metal, anything) and lists, per takeover volume, the device or image file the agent writes. homebound cannot
 * boot, see or power off those hosts, so every boot step answers `confirmation: 'operator'`: the state machine
 * then waits for a person to confirm through the approval page, and rollback has nothing to power off (the operator
 * keeps the hosts off until cutover).
 */
export class ManualPlatform implements TargetPlatform {
  readonly kind = 'manual';

  constructor(private readonly options: ManualPlatformOptions) {}

  /**
   * Checks every volume's disk: configured, existing (or created as a sparse image when `create` is set), at least the
   * volume's size, not mounted here. Checks all before creating any, so a bad config leaves nothing behind.
   * @throws TargetDiskNotConfiguredError, TargetDiskMissingError, TargetDiskTooSmallError, TargetDiskInUseError,
   * TargetUnavailableError (not a file or block device, or not writable)
   */
  async prepare(run: PlatformRun, signal: AbortSignal): Promise<PreparedTarget> {
    const plans: { volume: PlatformRun['volumes'][number]; disk: ManualDisk; exists: boolean }[] = [];
    for (const volume of run.volumes) {
      checkAborted(signal);
      const disk = this.options.disks[volume.volumeId];
      if (!disk) throw new TargetDiskNotConfiguredError(volume.volumeId);
      const exists = await stat(disk.path).then(
        () => true,
        () => false,
      );
      if (!exists && !disk.create) throw new TargetDiskMissingError(volume.volumeId, disk.path);
      if (exists) {
        const size = await targetSize(disk.path);
        if (size < volume.sizeBytes)
          throw new TargetDiskTooSmallError(volume.volumeId, disk.path, size, volume.sizeBytes);
        const mountPoint = await mountOf(disk.path, this.options.mountsFile);
        if (mountPoint !== undefined) throw new TargetDiskInUseError(volume.volumeId, disk.path, mountPoint);
      }
      plans.push({ volume, disk, exists });
    }
    const disks: PreparedDisk[] = [];
    for (const { volume, disk, exists } of plans) {
      checkAborted(signal);
      // Opening read-write proves the agent can write it (permissions, read-only mounts) before any pass arrives.
      const target = await openFileTarget(disk.path, exists ? {} : { createWithSize: volume.sizeBytes });
      const sizeBytes = target.sizeBytes;
      await target.close();
      disks.push({
        volumeId: volume.volumeId,
        volumeKey: volume.volumeKey,
        path: disk.path,
        sizeBytes,
        created: !exists,
        location: disk.path,
      });
    }
    return { disks, hosts: run.hosts.map((host) => ({ hostId: host.hostId, name: host.name, powerState: 'unknown' })) };
  }

  async verificationBoot(run: PlatformRun): Promise<BootOutcome> {
    return operator(
      `boot the failback hosts of run ${run.runId} (${hostNames(run)}) from copies or snapshots of their disks, or read-only, so the synced disks stay unchanged; check they come up, power them off, then confirm on the approval page`,
    );
  }

  async cutover(run: PlatformRun): Promise<BootOutcome> {
    return operator(
      `the agent has stopped writing the disks of run ${run.runId}: power on the failback hosts (${hostNames(run)}) on them, then confirm on the approval page`,
    );
  }

  async verify(run: PlatformRun): Promise<BootOutcome> {
    return operator(
      `check that the failback hosts of run ${run.runId} (${hostNames(run)}) serve production, then confirm on the approval page`,
    );
  }

  /** homebound cannot see the operator's hosts: each is `unknown`, so its state check fails (the ASL asks a person). */
  async inspect(run: PlatformRun): Promise<readonly FailbackHostStatus[]> {
    return run.hosts.map((host) => ({ hostId: host.hostId, name: host.name, powerState: 'unknown' }));
  }

  async rollback(): Promise<RollbackOutcome> {
    // homebound never powered anything on here; the disks are kept as they are.
    return { poweredOff: [] };
  }

  async describe(run: PlatformRun): Promise<readonly HostDescription[]> {
    return run.hosts.map((host) => ({
      name: host.name,
      powerState: 'unknown',
      // What the takeover host had; the operator's host may differ, homebound cannot see it.
      numCPU: host.vCpus,
      memoryMiB: host.memoryMiB,
      disks: run.volumes
        .filter((volume) => volume.hostId === host.hostId)
        .sort((a, b) => a.deviceIndex - b.deviceIndex)
        .map((volume) => ({
          volumeId: volume.volumeId,
          location: this.options.disks[volume.volumeId]?.path ?? '(not configured)',
          sizeBytes: volume.sizeBytes,
        })),
    }));
  }
}

function operator(instructions: string): BootOutcome {
  return { confirmation: 'operator', instructions };
}

function hostNames(run: PlatformRun): string {
  return run.hosts.map((host) => host.name).join(', ');
}

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new WorkCancelledError('preparing the manual target', signal.reason);
}
