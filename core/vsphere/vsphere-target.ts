import { randomUUID } from 'node:crypto';
import { rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { VsphereClient } from './client.js';
import { datastorePath, deleteDatastoreFile, makeDatastoreDirectory } from './disks.js';
import { DatastoreMountMismatchError, FailbackVmConflictError, GuestNotUpError } from './errors.js';
import {
  findDatacenter,
  findDatastore,
  findNetwork,
  findResourcePool,
  findVmFolder,
  findVmIfExists,
  type NetworkRef,
  type ResourcePoolLocation,
} from './inventory.js';
import { preserveSeedDisks, type SeedDisk, seedDiskOf } from './seed-disks.js';
import {
  DISK_FOLDER,
  type DiskLocation,
  type DiskRequest,
  ensureDisks,
  lengthOf,
  type TargetDisk,
} from './target-disks.js';
import {
  createVm,
  destroyVm,
  detachDisk,
  type PowerState,
  powerOff,
  powerOn,
  readVm,
  setDiskMode,
  type VmState,
} from './vm.js';
import type { DiskMode, ScsiControllerType } from './vm-spec.js';
import type { MoRef } from './xml.js';

/** Where on vCenter a failback goes, by name (the agent config's `vsphere` section). */
export interface VsphereTargetConfig {
  readonly datacenter: string;
  readonly datastore: string;
  /** Where that datastore is mounted on the agent's host (NFS): the agent writes the disks' flat files there. */
  readonly datastoreMount: string;
  /** The port group of the failback VMs' NIC. */
  readonly network: string;
  /**
   * The cluster or standalone host (its root pool), with `resourcePool` a pool below that root; or, without
   * `compute`, `resourcePool` is a pool's whole path below the host folder (`DC0_C0/Resources/gold`). One is needed.
   */
  readonly compute?: string;
  readonly resourcePool?: string;
  /** A folder below the datacenter's VM folder; default the VM folder itself. */
  readonly vmFolder?: string;
  /** Default `otherLinux64Guest`. */
  readonly guestId?: string;
  /** Default `pvscsi`. */
  readonly controller?: ScsiControllerType;
}

/** A failback VM to make for a takeover host. */
export interface FailbackVmSpec {
  readonly name: string;
  readonly numCpus: number;
  readonly memoryMiB: number;
  /** Its disks in the takeover host's device order, the boot disk first. */
  readonly disks: readonly TargetDisk[];
  /** Written into the VM's annotation (run id, takeover host) so a person sees where it comes from. */
  readonly annotation: string;
}

/** What the drill's report and the agent's answers show of a failback VM. */
export interface FailbackVmDescription {
  readonly name: string;
  readonly powerState: PowerState;
  readonly numCPU: number;
  readonly memoryMiB: number;
  readonly toolsRunningStatus: string | undefined;
  readonly disks: readonly {
    readonly fileName: string;
    readonly diskMode: string;
    readonly sizeBytes: number | undefined;
  }[];
}

export interface GuestWait {
  /**
   * `tools`: up means VMware Tools report running (a real guest). `power`: up means powered on — for vcsim, which
   * runs no guest, and for guests without Tools. Default `tools`.
   */
  readonly until?: 'tools' | 'power';
  /** Default 10 min. */
  readonly timeoutMs?: number;
  /** Default 2 s. */
  readonly pollMs?: number;
}

/**
 * The operations a failback needs on vCenter, over the vim25 client: target disks, failback VMs (powered off, disks in
 * device order), a verification boot that leaves the disks unchanged, cutover, power off, describe. Every operation
 * is idempotent, because the activity calling it may run again after an agent restart.
 */
export class VsphereTarget {
  private constructor(
    private readonly client: VsphereClient,
    private readonly config: VsphereTargetConfig,
    private readonly location: DiskLocation,
    private readonly datastore: MoRef,
    private readonly network: NetworkRef,
    private readonly pool: MoRef,
    private readonly folder: MoRef,
  ) {}

  /**
   * Resolves every configured object by name first, so a wrong name fails before anything is made, then makes the
   * disk folder on the datastore and checks it shows through the local mount.
   * @throws DatacenterNotFoundError, DatastoreNotFoundError, NetworkNotFoundError, ResourcePoolNotFoundError,
   *   VmFolderNotFoundError, DatastoreMountMismatchError
   */
  static async open(client: VsphereClient, config: VsphereTargetConfig): Promise<VsphereTarget> {
    const datacenter = await findDatacenter(client, config.datacenter);
    const datastore = await findDatastore(client, config.datacenter, config.datastore);
    const network = await findNetwork(client, config.datacenter, config.network);
    const pool = await findResourcePool(client, config.datacenter, poolLocation(config));
    const folder = await findVmFolder(client, config.datacenter, config.vmFolder);
    await checkMount(client, datacenter, config);
    const location = { datacenter, datastoreName: config.datastore, datastoreMount: config.datastoreMount };
    return new VsphereTarget(client, config, location, datastore, network, pool, folder);
  }

  /** See target-disks.ts: one thin disk per volume, reused when it is large enough. */
  ensureDisks(requests: readonly DiskRequest[]): Promise<TargetDisk[]> {
    return ensureDisks(this.client, this.location, requests);
  }

  /** A VM by name or folder path below the datacenter's VM folder (a seed VM), or undefined. */
  findVm(path: string): Promise<MoRef | undefined> {
    return findVmIfExists(this.client, this.config.datacenter, path);
  }

  /** A VM's disks in device order, each as a flat file the agent can write through the mount, or why it cannot be. */
  async seedDisks(vm: MoRef): Promise<(SeedDisk | { fileName: string; reason: string })[]> {
    const disks = [];
    for (const disk of (await readVm(this.client, vm)).disks) {
      const seed = await seedDiskOf(this.location, disk);
      disks.push('reason' in seed ? { fileName: disk.fileName, reason: seed.reason } : seed);
    }
    return disks;
  }

  /** See seed-disks.ts: copies the seed disks to `homebound-preserved/<runId>/<vm>/` once. */
  preserveSeed(runId: string, vmName: string, disks: readonly SeedDisk[]): Promise<string[]> {
    return preserveSeedDisks(this.client, this.location, runId, vmName, disks);
  }

  /**
   * Makes the failback VM, powered off, or returns the one an earlier call made (same name, same disks in order).
   * @throws FailbackVmConflictError when a VM of that name has other disks.
   */
  async ensureVm(spec: FailbackVmSpec): Promise<MoRef> {
    const expected = spec.disks.map((disk) => disk.fileName);
    const existing = await findVmIfExists(this.client, this.config.datacenter, spec.name, this.config.vmFolder);
    if (existing !== undefined) {
      const actual = (await readVm(this.client, existing)).disks.map((disk) => disk.fileName);
      if (actual.join('\n') !== expected.join('\n')) throw new FailbackVmConflictError(spec.name, expected, actual);
      return existing;
    }
    return createVm(
      this.client,
      { folder: this.folder, pool: this.pool },
      {
        name: spec.name,
        vmPathName: `[${this.config.datastore}]`,
        guestId: this.config.guestId ?? 'otherLinux64Guest',
        numCpus: spec.numCpus,
        memoryMiB: spec.memoryMiB,
        annotation: spec.annotation,
        controller: this.config.controller ?? 'pvscsi',
        disks: spec.disks.map((disk) => ({ fileName: disk.fileName, datastore: this.datastore })),
        network: this.network,
      },
    );
  }

  /**
   * Boots the VM with every disk independent_nonpersistent (vSphere discards the guest's writes at power off, so the
   * synced disks stay as the last pass left them), waits for the guest, powers off and makes the disks persistent
   * again — the last two also when the wait fails. Returns the VM as it was while up.
   * @throws GuestNotUpError when the guest did not come up in time (the VM is off again, its disks persistent).
   */
  async verificationBoot(vm: MoRef, wait: GuestWait = {}): Promise<VmState> {
    // vSphere changes a disk's mode only while the VM is off; a retried call may find it still up from the first.
    await this.powerOff(vm);
    await this.setAllDiskModes(vm, 'independent_nonpersistent');
    try {
      if ((await readVm(this.client, vm)).powerState !== 'poweredOn') await powerOn(this.client, vm);
      return await this.waitForGuest(vm, wait);
    } finally {
      await this.powerOff(vm);
      await this.setAllDiskModes(vm, 'persistent');
    }
  }

  /**
   * Makes every disk persistent and powers the VM on: production moves here. Returns the VM once it is up.
   * A VM already up with persistent disks is a retried cutover and is only waited for; one up with any other disk
   * mode (a verification boot cut short) is powered off first — its writes were never going to be kept.
   */
  async cutover(vm: MoRef, wait: GuestWait = {}): Promise<VmState> {
    const state = await readVm(this.client, vm);
    if (state.powerState === 'poweredOn') {
      if (state.disks.every((disk) => disk.diskMode === 'persistent')) return this.waitForGuest(vm, wait);
      await powerOff(this.client, vm);
    }
    await this.setAllDiskModes(vm, 'persistent');
    await powerOn(this.client, vm);
    return this.waitForGuest(vm, wait);
  }

  /** Powers the VM off if it is on (a hard power off: the takeover side is authoritative until cutover). */
  async powerOff(vm: MoRef): Promise<boolean> {
    if ((await readVm(this.client, vm)).powerState === 'poweredOff') return false;
    await powerOff(this.client, vm);
    return true;
  }

  /**
   * Removes a failback VM but keeps its disks: vSphere's Destroy deletes every attached disk whatever its mode, so
   * the disks are detached first (docs/vsphere.md).
   */
  async removeVmKeepingDisks(vm: MoRef): Promise<void> {
    await this.powerOff(vm);
    for (const disk of (await readVm(this.client, vm)).disks) await detachDisk(this.client, vm, disk);
    await destroyVm(this.client, vm);
  }

  async describe(vm: MoRef): Promise<FailbackVmDescription> {
    const state = await readVm(this.client, vm);
    const disks = [];
    for (const disk of state.disks) {
      disks.push({ fileName: disk.fileName, diskMode: disk.diskMode, sizeBytes: await this.flatLength(disk.fileName) });
    }
    return {
      name: state.name,
      powerState: state.powerState,
      numCPU: state.numCpu,
      memoryMiB: state.memoryMiB,
      toolsRunningStatus: state.toolsRunningStatus,
      disks,
    };
  }

  private async setAllDiskModes(vm: MoRef, mode: DiskMode): Promise<void> {
    for (const disk of (await readVm(this.client, vm)).disks) {
      if (disk.diskMode !== mode) await setDiskMode(this.client, vm, disk, mode);
    }
  }

  /**
   * Waits until the VM is up as `wait.until` says, without powering it on (a verify after the cutover).
   * @throws GuestNotUpError when it is not up within the timeout
   */
  async waitForGuest(vm: MoRef, wait: GuestWait = {}): Promise<VmState> {
    const timeoutMs = wait.timeoutMs ?? 600_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await readVm(this.client, vm);
      const up =
        state.powerState === 'poweredOn' &&
        ((wait.until ?? 'tools') === 'power' || state.toolsRunningStatus === 'guestToolsRunning');
      if (up) return state;
      if (Date.now() >= deadline) throw new GuestNotUpError(state.name, state.toolsRunningStatus, timeoutMs);
      await sleep(Math.min(wait.pollMs ?? 2_000, Math.max(0, deadline - Date.now())));
    }
  }

  /** The flat file's length through the mount, for disks on the configured datastore. */
  private async flatLength(fileName: string): Promise<number | undefined> {
    const prefix = `[${this.config.datastore}] `;
    if (!fileName.startsWith(prefix) || !fileName.endsWith('.vmdk')) return undefined;
    const relative = fileName.slice(prefix.length).replace(/\.vmdk$/, '-flat.vmdk');
    return lengthOf(join(this.config.datastoreMount, relative));
  }
}

function poolLocation(config: VsphereTargetConfig): ResourcePoolLocation {
  if (config.compute !== undefined) {
    return { compute: config.compute, ...(config.resourcePool === undefined ? {} : { pool: config.resourcePool }) };
  }
  if (config.resourcePool !== undefined) return { path: config.resourcePool };
  throw new TypeError('a vSphere target needs compute (a cluster or host) or resourcePool (a pool path)');
}

/**
 * The agent writes disks through the mount: a wrong path would "sync" into a directory no VM ever reads. So a folder
 * with a fresh random name is made through vSphere and must show through the mount (a folder that merely exists there
 * proves nothing); it is removed again either way.
 */
async function checkMount(client: VsphereClient, datacenter: MoRef, config: VsphereTargetConfig): Promise<void> {
  const probe = `${DISK_FOLDER}/.mount-check-${randomUUID()}`;
  await makeDatastoreDirectory(client, datacenter, datastorePath(config.datastore, probe));
  const local = join(config.datastoreMount, probe);
  const seen = (await stat(local).catch(() => undefined))?.isDirectory() === true;
  if (!seen) {
    await deleteDatastoreFile(client, datacenter, datastorePath(config.datastore, probe));
    throw new DatastoreMountMismatchError(config.datastore, config.datastoreMount);
  }
  await rmdir(local);
}
