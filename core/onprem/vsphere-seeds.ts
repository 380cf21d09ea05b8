import { SeedTooSmallError } from '../errors.js';
import type { VsphereClient } from '../vsphere/client.js';
import type { SeedDisk } from '../vsphere/seed-disks.js';
import { readVm } from '../vsphere/vm.js';
import type { VsphereTarget } from '../vsphere/vsphere-target.js';
import type { MoRef } from '../vsphere/xml.js';
import {
  FailbackVmRunningError,
  SeedDiskCountMismatchError,
  SeedDiskNotWritableError,
  SeedVmNotFoundError,
  SeedVmRunningError,
} from './errors.js';
import type { PlatformRun, PlatformVolume } from './platform.js';
import { ownedBy, runMarker } from './run-marker.js';

/** A seeded host's seed VM as the vsphere platform prepares it: its name (as the request gives it) and its disks. */
export interface CheckedSeed {
  readonly name: string;
  readonly vm: MoRef;
  readonly disks: SeedDisk[];
}

/**
 * Every seeded host's seed VM and disks, checked before anything is changed: the VM exists, has one disk per volume,
 * each a flat file on the agent's datastore at least its volume's size, and is off or may be powered off.
 */
export async function checkSeeds(
  run: PlatformRun,
  target: VsphereTarget,
  client: VsphereClient,
): Promise<Map<string, CheckedSeed>> {
  const seeds = new Map<string, CheckedSeed>();
  for (const host of run.hosts) {
    if (host.seed === undefined) continue;
    const vm = await target.findVm(host.seed.vm);
    if (vm === undefined) throw new SeedVmNotFoundError(host.hostId, host.seed.vm);
    const volumes = run.volumes
      .filter((volume) => volume.hostId === host.hostId)
      .sort((a, b) => a.deviceIndex - b.deviceIndex);
    const found = await target.seedDisks(vm);
    if (found.length !== volumes.length) {
      throw new SeedDiskCountMismatchError(host.hostId, host.seed.vm, found.length, volumes.length);
    }
    const disks: SeedDisk[] = [];
    for (const [i, disk] of found.entries()) {
      const volume = volumes[i] as PlatformVolume;
      if ('reason' in disk) throw new SeedDiskNotWritableError(host.hostId, disk.fileName, disk.reason);
      if (disk.sizeBytes < volume.sizeBytes) {
        throw new SeedTooSmallError(`${disk.fileName} (for ${volume.volumeId})`, disk.sizeBytes, volume.sizeBytes);
      }
      disks.push(disk);
    }
    const state = await readVm(client, vm);
    const running = state.powerState !== 'poweredOff';
    const earlierRun = state.annotation.split('\n').some((line) => line.startsWith(runMarker('')));
    // One an earlier run cut over to serves production: powerOffSeed is for an original VM that came up on its own.
    if (running && earlierRun && !ownedBy(state.annotation, run.runId)) {
      if (state.disks.every((disk) => disk.diskMode === 'persistent')) throw new FailbackVmRunningError(state.name);
    }
    // A VM this run already took over may be up from a verification boot cut short: prepare powers it off as before.
    if (running && !host.seed.powerOff && !ownedBy(state.annotation, run.runId)) {
      throw new SeedVmRunningError(host.hostId, host.seed.vm);
    }
    seeds.set(host.hostId, { name: host.seed.vm, vm, disks });
  }
  return seeds;
}
