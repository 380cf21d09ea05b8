import type { VsphereClient, WaitOptions } from './client.js';
import { VsphereFaultError } from './errors.js';
import { type MoRef, moRefElement, textElement, typedElement } from './xml.js';

/** `[datastore] path/in/it`: vSphere's way of naming a file on a datastore. */
export function datastorePath(datastore: string, path: string): string {
  return `[${datastore}] ${path}`;
}

/** Splits `[datastore] path` into its parts; undefined when the text is not a datastore path. */
export function parseDatastorePath(value: string): { datastore: string; path: string } | undefined {
  const match = /^\[([^\]]+)\] ?(.*)$/.exec(value);
  if (match === null || match[1] === undefined || match[2] === undefined) return undefined;
  return { datastore: match[1], path: match[2] };
}

/**
 * Makes a directory on a datastore (FileManager.MakeDirectory with its parents). A directory that already exists is
 * fine: callers re-run after a crash.
 */
export async function makeDatastoreDirectory(client: VsphereClient, datacenter: MoRef, path: string): Promise<void> {
  try {
    await client.invoke(
      'MakeDirectory',
      client.content.fileManager,
      textElement('name', path) + moRefElement('datacenter', datacenter) + textElement('createParentDirectories', true),
    );
  } catch (error) {
    if (!(error instanceof VsphereFaultError && error.faultName === 'FileAlreadyExists')) throw error;
  }
}

/**
 * Creates a thin-provisioned virtual disk (descriptor `name.vmdk` and its `name-flat.vmdk`) of `capacityKiB`
 * with VirtualDiskManager.CreateVirtualDisk_Task. The directory must exist (makeDatastoreDirectory).
 * @throws VsphereFileAlreadyExistsError when a disk of that name exists, VsphereInsufficientResourcesError when the
 *   datastore is full.
 */
export async function createThinDisk(
  client: VsphereClient,
  datacenter: MoRef,
  path: string,
  capacityKiB: number,
  wait?: WaitOptions,
): Promise<void> {
  if (!Number.isSafeInteger(capacityKiB) || capacityKiB <= 0) {
    throw new RangeError(`a disk's capacity must be a positive whole number of KiB, not ${capacityKiB}`);
  }
  // The adapter type only shapes the descriptor's geometry; the controller the VM attaches it to decides the rest.
  const spec = typedElement(
    'spec',
    'FileBackedVirtualDiskSpec',
    textElement('diskType', 'thin') + textElement('adapterType', 'lsiLogic') + textElement('capacityKb', capacityKiB),
  );
  await client.runTask(
    'CreateVirtualDisk_Task',
    client.content.virtualDiskManager,
    textElement('name', path) + moRefElement('datacenter', datacenter) + spec,
    wait,
  );
}

/** Deletes a virtual disk (descriptor and extents) with VirtualDiskManager.DeleteVirtualDisk_Task. */
export async function deleteDisk(client: VsphereClient, datacenter: MoRef, path: string, wait?: WaitOptions) {
  await client.runTask(
    'DeleteVirtualDisk_Task',
    client.content.virtualDiskManager,
    textElement('name', path) + moRefElement('datacenter', datacenter),
    wait,
  );
}

/** Deletes a file or folder on a datastore (FileManager.DeleteDatastoreFile_Task). */
export async function deleteDatastoreFile(client: VsphereClient, datacenter: MoRef, path: string, wait?: WaitOptions) {
  await client.runTask(
    'DeleteDatastoreFile_Task',
    client.content.fileManager,
    textElement('name', path) + moRefElement('datacenter', datacenter),
    wait,
  );
}
