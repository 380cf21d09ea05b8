import { readFile } from 'node:fs/promises';
import { WorkCancelledError } from '../errors.js';
import { VsphereClient } from '../vsphere/client.js';
import { findVmFolder, findVmIfExists, listFolderVms } from '../vsphere/inventory.js';
import type { SeedDisk } from '../vsphere/seed-disks.js';
import type { VsphereEndpoint } from '../vsphere/soap-transport.js';
import { DISK_FOLDER, type TargetDisk } from '../vsphere/target-disks.js';
import { readVm, setAnnotation } from '../vsphere/vm.js';
import { type GuestWait, VsphereTarget, type VsphereTargetConfig } from '../vsphere/vsphere-target.js';
import type { MoRef } from '../vsphere/xml.js';
import {
  FailbackVmReassignedError,
  FailbackVmRunningError,
  PlacementNotConfiguredError,
  VspherePasswordFileError,
} from './errors.js';
import type {
  BootOutcome,
  FailbackHostStatus,
  HostDescription,
  PlatformHost,
  PlatformRun,
  PreparedDisk,
  PreparedTarget,
  RollbackOutcome,
  TargetPlatform,
} from './platform.js';
import { ownedBy, runMarker, withRunMarker } from './run-marker.js';
import { checkSeeds } from './vsphere-seeds.js';

export { runMarker } from './run-marker.js';

export interface VspherePlatformOptions {
  /** vCenter's SDK URL and, for a self-signed vCenter, its certificate's thumbprint. */
  readonly endpoint: VsphereEndpoint;
  readonly username: string;
  /** Read (first line) at each connect, never logged: a rotated password needs no agent restart. */
  readonly passwordFile: string;
  readonly target: VsphereTargetConfig;
  /** When a booted VM counts as up, and how long that may take (docs/agent.md, `until`). */
  readonly wait: GuestWait;
}

/**
 * The failback VM's name for a takeover host. It does not name the run: like the disks (named after their volume),
 * the next run for the same takeover host reuses the VM. The instance id keeps it apart from the original VM, which
 * may still exist under the host's name on this vCenter.
 */
export function failbackVmName(host: Pick<PlatformHost, 'hostId' | 'name' | 'vmName'>): string {
  if (host.vmName !== undefined) return host.vmName;
  const name = host.name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 40);
  return `homebound-${name}-${host.hostId}`;
}

/**
 * Refuses a placement the agent's config does not give: every VM of a run goes where the config says.
 * @throws PlacementNotConfiguredError naming the host and field
 */
function checkPlacement(host: PlatformHost, config: VsphereTargetConfig): void {
  const configured: Record<keyof NonNullable<PlatformHost['placement']>, string | undefined> = {
    folder: config.vmFolder,
    resourcePool: config.resourcePool,
    datastore: config.datastore,
    portGroup: config.network,
  };
  for (const [field, asked] of Object.entries(host.placement ?? {})) {
    const own = configured[field as keyof typeof configured];
    if (asked !== undefined && asked !== own) throw new PlacementNotConfiguredError(host.hostId, field, asked, own);
  }
}

/**
 * The `vsphere` platform: failback hosts are VMs on vCenter (core/vsphere/), target disks thin VMDKs named after their
 * takeover volume, written by the agent through the datastore's local mount. It connects on first use — a wrong
 * password or name then fails that activity task with its named error (VsphereLoginError, DatastoreNotFoundError, …)
 * and the next task tries again — and keeps the session.
 */
export class VspherePlatform implements TargetPlatform {
  readonly kind = 'vsphere';
  private opening: Promise<{ client: VsphereClient; target: VsphereTarget }> | undefined;

  constructor(private readonly options: VspherePlatformOptions) {}

  /**
   * Makes (or reuses) a thin disk per volume and a VM per host; a seeded host's VM is its seed VM, whose disks are
   * the target disks — checked, powered off if the request allows it, and copied to their preserved state first.
   * @throws before anything is changed: SeedVmNotFoundError, SeedDiskCountMismatchError, SeedDiskNotWritableError,
   *   SeedTooSmallError, SeedVmRunningError; FailbackVmRunningError when a host's VM is up on persistent disks: it
   *   serves from them — an earlier run's cutover — and the agent must not write under it.
   */
  async prepare(run: PlatformRun, signal: AbortSignal): Promise<PreparedTarget> {
    for (const host of run.hosts) if (host.seed === undefined) checkPlacement(host, this.options.target);
    const { client, target } = await this.open(signal);
    const seeds = await checkSeeds(run, target, client);
    for (const { name, vm, hostId } of await this.vmsOf(run, signal)) {
      if (seeds.has(hostId)) continue;
      const state = await readVm(client, vm);
      if (state.powerState === 'poweredOn' && state.disks.every((disk) => disk.diskMode === 'persistent')) {
        throw new FailbackVmRunningError(name);
      }
    }
    const made = run.volumes.filter((volume) => !seeds.has(volume.hostId));
    const disks =
      made.length === 0
        ? []
        : await target.ensureDisks(made.map(({ volumeId, sizeBytes }) => ({ volumeId, sizeBytes })));
    const byVolume = new Map(disks.map((disk) => [disk.volumeId, disk]));
    const seeded = new Map<string, PreparedDisk>();
    const hosts = [];
    for (const host of run.hosts) {
      checkAborted(signal, 'preparing the failback VMs');
      const volumes = run.volumes
        .filter((volume) => volume.hostId === host.hostId)
        .sort((a, b) => a.deviceIndex - b.deviceIndex);
      const seed = seeds.get(host.hostId);
      if (seed !== undefined) {
        // Off before the copy: a running VM's disks change under it (and vSphere locks them).
        await target.powerOff(seed.vm);
        const preserved = await target.preserveSeed(run.runId, seed.name, seed.disks);
        const state = await readVm(client, seed.vm);
        const annotation = withRunMarker(state.annotation, run.runId);
        if (state.annotation !== annotation) await setAnnotation(client, seed.vm, annotation);
        volumes.forEach((volume, i) => {
          const disk = seed.disks[i] as SeedDisk;
          seeded.set(volume.volumeId, {
            volumeId: volume.volumeId,
            volumeKey: volume.volumeKey,
            path: disk.flatPath,
            sizeBytes: disk.sizeBytes,
            created: false,
            location: disk.fileName,
            seed: { vm: seed.name, preservedAs: preserved[i] as string },
          });
        });
        hosts.push({ hostId: host.hostId, name: seed.name, powerState: 'poweredOff' as const });
        continue;
      }
      const hostDisks = volumes
        .map((volume) => byVolume.get(volume.volumeId))
        .filter((disk): disk is TargetDisk => disk !== undefined);
      const name = failbackVmName(host);
      const annotation = `homebound failback VM for takeover host ${host.hostId} (${host.name}, ${host.instanceType})\n${runMarker(run.runId)}`;
      const vm = await target.ensureVm({
        name,
        numCpus: host.vCpus,
        memoryMiB: host.memoryMiB,
        disks: hostDisks,
        annotation,
      });
      // A reused VM now belongs to this run. One still up here runs on non-persistent disks (a verification boot cut
      // short): nothing it wrote is kept, so it is powered off.
      const state = await readVm(client, vm);
      if (state.annotation !== annotation) await setAnnotation(client, vm, annotation);
      await target.powerOff(vm);
      hosts.push({ hostId: host.hostId, name, powerState: 'poweredOff' as const });
    }
    return {
      disks: run.volumes.map((volume) => {
        const seedDisk = seeded.get(volume.volumeId);
        if (seedDisk !== undefined) return seedDisk;
        const disk = byVolume.get(volume.volumeId);
        if (disk === undefined) throw new TypeError(`no disk was made for ${volume.volumeId}`);
        return {
          volumeId: volume.volumeId,
          volumeKey: volume.volumeKey,
          path: disk.flatPath,
          sizeBytes: disk.sizeBytes,
          created: disk.created,
          location: disk.fileName,
        };
      }),
      hosts,
    };
  }

  /** Each VM boots on independent_nonpersistent disks, is waited for and powered off; all VMs at once. */
  async verificationBoot(run: PlatformRun, signal: AbortSignal): Promise<BootOutcome> {
    const { client, target } = await this.open(signal);
    const vms = await this.ownedVmsOf(run, signal);
    await settleAll(vms.map(({ vm }) => target.verificationBoot(vm, this.options.wait)));
    return outcome(client, vms);
  }

  async cutover(run: PlatformRun, signal: AbortSignal): Promise<BootOutcome> {
    const { client, target } = await this.open(signal);
    const vms = await this.ownedVmsOf(run, signal);
    await settleAll(vms.map(({ vm }) => target.cutover(vm, this.options.wait)));
    return outcome(client, vms);
  }

  /** @throws GuestNotUpError for a VM not up (powered on, and Tools running with `until: 'tools'`) in time */
  async verify(run: PlatformRun, signal: AbortSignal): Promise<BootOutcome> {
    const { client, target } = await this.open(signal);
    const vms = await this.ownedVmsOf(run, signal);
    await settleAll(vms.map(({ vm }) => target.waitForGuest(vm, this.options.wait)));
    return outcome(client, vms);
  }

  /**
   * Each host's VM: its power state and the guest IP VMware Tools reports (`guest.ipAddress`; vcsim reports one only
   * when it is set through the VM's extraConfig `SET.guest.ipAddress`, or with container backing). A VM that does not
   * exist, or that a later run took over, is `unknown`.
   */
  async inspect(run: PlatformRun, signal: AbortSignal): Promise<readonly FailbackHostStatus[]> {
    const { client } = await this.open(signal);
    const found = await this.vmsOf(run, signal);
    const statuses: FailbackHostStatus[] = [];
    for (const host of run.hosts) {
      const name = vmNameOf(host);
      const vm = found.find((candidate) => candidate.hostId === host.hostId);
      if (vm === undefined || !vm.owned) {
        statuses.push({ hostId: host.hostId, name, powerState: 'unknown' });
        continue;
      }
      const state = await readVm(client, vm.vm);
      const address = (await client.property(vm.vm, 'guest.ipAddress'))?.text();
      statuses.push({ hostId: host.hostId, name, powerState: state.powerState, ...(address ? { address } : {}) });
    }
    return statuses;
  }

  /**
   * Powers off every VM of the run: the run's hosts' VMs by name, or — for a run this agent has no record of — every
   * VM in the folder whose annotation names the run. Disks are never touched.
   */
  async rollback(run: PlatformRun, signal: AbortSignal): Promise<RollbackOutcome> {
    const { client, target } = await this.open(signal);
    // Only VMs the run still owns: a late Rollback of an earlier run must not power off the VMs a later run cut over to.
    const vms =
      run.hosts.length > 0
        ? (await this.vmsOf(run, signal)).filter((vm) => vm.owned)
        : await this.vmsAnnotated(client, run.runId);
    const poweredOff: string[] = [];
    for (const { name, vm } of vms) {
      if (await target.powerOff(vm)) poweredOff.push(name);
    }
    return { poweredOff };
  }

  async describe(run: PlatformRun, signal: AbortSignal): Promise<readonly HostDescription[]> {
    const { target } = await this.open(signal);
    const descriptions: HostDescription[] = [];
    for (const { vm, hostId } of await this.vmsOf(run, signal)) {
      const vmDescription = await target.describe(vm);
      // A seed VM's disks are not named after their volumes: they pair with them by device order.
      const seeded = run.hosts.some((host) => host.hostId === hostId && host.seed !== undefined);
      const volumes = run.volumes
        .filter((volume) => volume.hostId === hostId)
        .sort((a, b) => a.deviceIndex - b.deviceIndex);
      descriptions.push({
        name: vmDescription.name,
        powerState: vmDescription.powerState,
        numCPU: vmDescription.numCPU,
        memoryMiB: vmDescription.memoryMiB,
        disks: vmDescription.disks.map((disk, i) => ({
          volumeId: (seeded ? volumes[i]?.volumeId : undefined) ?? volumeIdOf(disk.fileName),
          location: disk.fileName,
          sizeBytes: disk.sizeBytes ?? 0,
        })),
      });
    }
    return descriptions;
  }

  /** Connects and resolves the target once; a failed attempt is forgotten so the next task tries again. */
  private open(signal: AbortSignal): Promise<{ client: VsphereClient; target: VsphereTarget }> {
    checkAborted(signal, 'connecting to vCenter');
    this.opening ??= this.connect().catch((error: unknown) => {
      this.opening = undefined;
      throw error;
    });
    return this.opening;
  }

  private async connect(): Promise<{ client: VsphereClient; target: VsphereTarget }> {
    const password = await readPassword(this.options.passwordFile);
    const client = await VsphereClient.connect(this.options.endpoint, { username: this.options.username, password });
    try {
      return { client, target: await VsphereTarget.open(client, this.options.target) };
    } catch (error) {
      await client.logout().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The run's VMs that exist (a host whose VM was never made, or was removed, has nothing to power), with whether the
   * run still owns each: a later run for the same takeover host reuses the VM and rewrites its annotation.
   */
  private async vmsOf(
    run: PlatformRun,
    signal: AbortSignal,
  ): Promise<{ hostId: string; name: string; vm: MoRef; owned: boolean }[]> {
    const { client, target } = await this.open(signal);
    const found = [];
    for (const host of run.hosts) {
      const name = vmNameOf(host);
      const vm =
        host.seed === undefined
          ? await findVmIfExists(client, this.options.target.datacenter, name, this.options.target.vmFolder)
          : await target.findVm(host.seed.vm);
      if (vm === undefined) continue;
      const owned = ownedBy((await readVm(client, vm)).annotation, run.runId);
      found.push({ hostId: host.hostId, name, vm, owned });
    }
    return found;
  }

  /**
   * The run's VMs for a boot, cutover or verify: every one must still be the run's.
   * @throws FailbackVmReassignedError naming a VM a later run has taken over
   */
  private async ownedVmsOf(run: PlatformRun, signal: AbortSignal): Promise<{ name: string; vm: MoRef }[]> {
    const vms = await this.vmsOf(run, signal);
    const taken = vms.find((vm) => !vm.owned);
    if (taken !== undefined) throw new FailbackVmReassignedError(taken.name, run.runId);
    return vms;
  }

  private async vmsAnnotated(client: VsphereClient, runId: string): Promise<{ name: string; vm: MoRef }[]> {
    const folder = await findVmFolder(client, this.options.target.datacenter, this.options.target.vmFolder);
    const found = [];
    for (const vm of await listFolderVms(client, folder)) {
      const state = await readVm(client, vm);
      if (ownedBy(state.annotation, runId)) found.push({ name: state.name, vm });
    }
    return found;
  }
}

/** Every VM came up (a failure throws before this): each with its power state now (off after a verification boot). */
async function outcome(client: VsphereClient, vms: readonly { vm: MoRef }[]): Promise<BootOutcome> {
  const hosts = [];
  for (const { vm } of vms) {
    const state = await readVm(client, vm);
    hosts.push({ name: state.name, up: true, powerState: state.powerState });
  }
  return { confirmation: 'automatic', hosts };
}

/** The host's VM as the run names it: its seed VM (as the request gives it) or the failback VM homebound makes. */
function vmNameOf(host: PlatformHost): string {
  return host.seed?.vm ?? failbackVmName(host);
}

/** `[LocalDS_0] homebound-disks/vol-0abc.vmdk` → vol-0abc; another disk's file name as it is. */
function volumeIdOf(fileName: string): string {
  const match = new RegExp(`${DISK_FOLDER}/([^/]+)\\.vmdk$`).exec(fileName);
  return match?.[1] ?? fileName;
}

async function readPassword(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new VspherePasswordFileError(path, (error as NodeJS.ErrnoException).code ?? 'unreadable');
  }
  const password = text.split(/\r?\n/, 1)[0] ?? '';
  if (password === '') throw new VspherePasswordFileError(path, 'its first line is empty');
  return password;
}

/** Waits for every operation (a VM's verification boot must end with its disks persistent again), then throws the
 * first failure. */
async function settleAll(operations: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(operations);
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}

function checkAborted(signal: AbortSignal, what: string): void {
  if (signal.aborted) throw new WorkCancelledError(what, signal.reason);
}
