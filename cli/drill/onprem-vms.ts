import { join } from 'node:path';
import { imageSha256 } from '../../core/image-digest.js';
import type { OnPremSite } from '../../core/localcloud/onprem-site.js';
import { VsphereClient } from '../../core/vsphere/client.js';
import { parseDatastorePath } from '../../core/vsphere/disks.js';
import { findVm } from '../../core/vsphere/inventory.js';
import { readVm } from '../../core/vsphere/vm.js';

/** A failback VM as the drill reads it from the site's vCenter itself (not from the agent's answer). */
export interface DrillVm {
  readonly name: string;
  readonly powerState: string;
  readonly numCPU: number;
  readonly memoryMiB: number;
  readonly disks: readonly DrillVmDisk[];
}

export interface DrillVmDisk {
  /** `[LocalDS_0] homebound-disks/vol-….vmdk`, or the manual platform's image file. */
  readonly datastorePath: string;
  /** The file holding the disk's bytes: the `-flat.vmdk` in the datastore directory, or the image file. */
  readonly path: string;
  /** Whole-disk SHA-256 of that file. */
  readonly sha256: string;
}

/**
 * The failback VMs of the run on the site's vCenter (vcsim), looked up by the names the agent reported, each disk's
 * `-flat.vmdk` found below the datastore's local directory and hashed whole.
 */
export async function vsphereVms(site: OnPremSite, names: readonly string[]): Promise<DrillVm[]> {
  const { vcsim, datastoreDir } = site;
  if (!vcsim || !datastoreDir) return [];
  const client = await VsphereClient.connect(
    { url: vcsim.url },
    { username: vcsim.username, password: vcsim.password },
  );
  try {
    const datacenter = site.config.platform.type === 'vsphere' ? site.config.platform.datacenter : 'DC0';
    const vms: DrillVm[] = [];
    for (const name of names) {
      const state = await readVm(client, await findVm(client, datacenter, name));
      const disks: DrillVmDisk[] = [];
      for (const disk of state.disks) {
        const parsed = parseDatastorePath(disk.fileName);
        const path = join(datastoreDir, (parsed?.path ?? disk.fileName).replace(/\.vmdk$/, '-flat.vmdk'));
        disks.push({ datastorePath: disk.fileName, path, sha256: await imageSha256(path) });
      }
      vms.push({ name, powerState: state.powerState, numCPU: state.numCpu, memoryMiB: state.memoryMiB, disks });
    }
    return vms;
  } finally {
    await client.logout().catch(() => undefined);
  }
}

/** The manual platform has no VMs homebound can see: one entry per takeover host with its image files. */
export async function manualVms(
  site: OnPremSite,
  hosts: readonly { name: string; volumeIds: readonly string[]; vCpus: number; memoryMiB: number }[],
): Promise<DrillVm[]> {
  const vms: DrillVm[] = [];
  for (const host of hosts) {
    const disks: DrillVmDisk[] = [];
    for (const volumeId of host.volumeIds) {
      const path = site.manualDisks[volumeId];
      if (path) disks.push({ datastorePath: path, path, sha256: await imageSha256(path) });
    }
    vms.push({ name: host.name, powerState: 'unknown', numCPU: host.vCpus, memoryMiB: host.memoryMiB, disks });
  }
  return vms;
}
