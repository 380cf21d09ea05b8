import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFileDurably } from '../durable-file.js';
import type { VsphereClient } from './client.js';
import { datastorePath, makeDatastoreDirectory, parseDatastorePath } from './disks.js';
import { VsphereFaultError } from './errors.js';
import type { DiskLocation } from './target-disks.js';
import { lengthOf } from './target-disks.js';
import type { DiskDevice } from './vm-spec.js';
import { type MoRef, moRefElement, textElement, typedElement } from './xml.js';

/**
 * A seed VM's disks as target disks, and the copy that keeps their pre-failback state (docs/vsphere.md, "Seeded
 * failback").
 *
 * Why a copy and not a vSphere snapshot: the agent writes a disk's `-flat.vmdk` through the datastore mount,
 * underneath vSphere. A snapshot freezes the base disk only against the VM's own writes (they go to a delta disk);
 * writes through the mount change the base the snapshot reverts to, so "revert" would return the overwritten disk.
 * A snapshot also moves the VM's disks onto delta files the agent could not write as flat files, and vSphere refuses
 * independent disk modes (the verification boot) while one exists. So the pre-failback state is a full copy of each
 * disk (VirtualDiskManager.CopyVirtualDisk_Task) in `[datastore] homebound-preserved/<runId>/<vm>/`.
 */

/** The datastore folder holding the preserved copies of seed disks, one subfolder per run and VM. */
export const PRESERVED_FOLDER = 'homebound-preserved';

/** Written through the mount once every copy of a VM is whole: a retried prepare copies again only without it. */
const PRESERVED_MARKER = 'preserved.json';

export interface SeedDisk {
  /** `[datastore] folder/name.vmdk`: the seed VM's disk as vSphere names it. */
  readonly fileName: string;
  /** Its `-flat.vmdk` through the agent's datastore mount: what the agent hashes and writes. */
  readonly flatPath: string;
  /** The flat file's length. */
  readonly sizeBytes: number;
}

/**
 * A seed VM's disk as a flat file on the agent's datastore, or why it cannot be one.
 * @returns the disk, or a reason (another datastore, a delta disk of a snapshot, no flat file through the mount)
 */
export async function seedDiskOf(location: DiskLocation, disk: DiskDevice): Promise<SeedDisk | { reason: string }> {
  const parsed = parseDatastorePath(disk.fileName);
  if (parsed === undefined || !parsed.path.endsWith('.vmdk')) return { reason: 'it is not a .vmdk on a datastore' };
  if (parsed.datastore !== location.datastoreName) {
    return {
      reason: `it is on datastore ${parsed.datastore}, not on the agent's datastore ${location.datastoreName} (the only one it can write through its mount)`,
    };
  }
  // A snapshot's delta disk is named `<disk>-000001.vmdk` and has no flat extent the agent could write.
  if (/-\d{6}\.vmdk$/.test(parsed.path)) return { reason: 'it is a snapshot delta disk (remove the VM snapshots)' };
  const flatPath = join(location.datastoreMount, parsed.path.replace(/\.vmdk$/, '-flat.vmdk'));
  const sizeBytes = await lengthOf(flatPath);
  if (sizeBytes === undefined) return { reason: `its flat file ${flatPath} is not there through the mount` };
  return { fileName: disk.fileName, flatPath, sizeBytes };
}

/** `[datastore] homebound-preserved/<runId>/<vm>/disk-<n>.vmdk` for each of a VM's disks, in device order. */
export function preservedNames(location: DiskLocation, runId: string, vmName: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    datastorePath(location.datastoreName, `${preservedFolder(runId, vmName)}/disk-${i}.vmdk`),
  );
}

function preservedFolder(runId: string, vmName: string): string {
  return `${PRESERVED_FOLDER}/${runId}/${vmName.replace(/[^A-Za-z0-9._-]+/g, '-')}`;
}

/**
 * Copies each seed disk to its preserved name, unless an earlier call finished that already (its marker). Runs before
 * the agent writes a byte to the seed: a copy cut short is made again (force), a finished one is never made again —
 * by then the seed may hold the run's writes.
 * @returns the preserved disks' names, in the order of `disks`
 * @throws VsphereInsufficientResourcesError when the datastore has no room for the copies, the client's errors
 */
export async function preserveSeedDisks(
  client: VsphereClient,
  location: DiskLocation,
  runId: string,
  vmName: string,
  disks: readonly SeedDisk[],
): Promise<string[]> {
  const names = preservedNames(location, runId, vmName, disks.length);
  const marker = join(location.datastoreMount, preservedFolder(runId, vmName), PRESERVED_MARKER);
  if (await isMarked(marker, disks)) return names;
  await makeDatastoreDirectory(
    client,
    location.datacenter,
    datastorePath(location.datastoreName, preservedFolder(runId, vmName)),
  );
  for (const [i, disk] of disks.entries()) {
    await copyDisk(client, location.datacenter, disk.fileName, names[i] as string);
  }
  const record = { runId, vm: vmName, disks: disks.map((disk, i) => ({ seed: disk.fileName, copy: names[i] })) };
  await replaceFileDurably(marker, `${JSON.stringify(record, null, 2)}\n`, 0o644);
  return names;
}

async function isMarked(marker: string, disks: readonly SeedDisk[]): Promise<boolean> {
  try {
    const text = await readFile(marker, 'utf8');
    return disks.every((disk) => text.includes(JSON.stringify(disk.fileName)));
  } catch {
    return false;
  }
}

/**
 * CopyVirtualDisk_Task as a thin disk. A server that does not implement a destination spec (vcsim as a vCenter
 * answers NotImplemented) is asked again without one: vCenter then picks the format, which may be thick — the copy
 * then takes the disk's whole size on the datastore (docs/vsphere.md).
 */
async function copyDisk(client: VsphereClient, datacenter: MoRef, source: string, destination: string): Promise<void> {
  const spec = typedElement(
    'destSpec',
    'VirtualDiskSpec',
    textElement('diskType', 'thin') + textElement('adapterType', 'lsiLogic'),
  );
  const body = (destSpec: string) =>
    textElement('sourceName', source) +
    moRefElement('sourceDatacenter', datacenter) +
    textElement('destName', destination) +
    moRefElement('destDatacenter', datacenter) +
    destSpec +
    textElement('force', true);
  try {
    await client.runTask('CopyVirtualDisk_Task', client.content.virtualDiskManager, body(spec));
  } catch (error) {
    if (!(error instanceof VsphereFaultError && error.faultName === 'NotImplemented')) throw error;
    await client.runTask('CopyVirtualDisk_Task', client.content.virtualDiskManager, body(''));
  }
}
