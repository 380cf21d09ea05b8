import { stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { TargetDiskTooSmallError } from '../onprem/platform.js';
import type { VsphereClient } from './client.js';
import { createThinDisk, datastorePath, makeDatastoreDirectory } from './disks.js';
import type { MoRef } from './xml.js';

/**
 * Target disks of a failback on one datastore. A disk is named after its takeover volume, not after the run, so the
 * next run on the same takeover hosts (after a rejection or a failure) finds the disk the last one wrote and
 * continues with an incremental pass. The agent writes a disk's `-flat.vmdk` through the datastore's local mount.
 */

/** The datastore folder holding every target disk homebound makes. */
export const DISK_FOLDER = 'homebound-disks';

export interface DiskRequest {
  readonly volumeId: string;
  readonly sizeBytes: number;
}

export interface TargetDisk {
  readonly volumeId: string;
  /** `[datastore] homebound-disks/<volumeId>.vmdk`: the name vSphere knows the disk by. */
  readonly fileName: string;
  /** The `-flat.vmdk` through the local mount: what the agent opens for positional writes. */
  readonly flatPath: string;
  readonly sizeBytes: number;
  /** False when an existing disk was reused. */
  readonly created: boolean;
}

export interface DiskLocation {
  readonly datacenter: MoRef;
  readonly datastoreName: string;
  /** Where the datastore is mounted on the agent's host. */
  readonly datastoreMount: string;
}

/** Where a volume's disk lives (whether or not it exists yet). */
export function diskFor(location: DiskLocation, volumeId: string): { fileName: string; flatPath: string } {
  if (!/^[A-Za-z0-9._-]+$/.test(volumeId) || volumeId.startsWith('.')) {
    throw new TypeError(`volume id ${JSON.stringify(volumeId)} cannot name a disk file`);
  }
  return {
    fileName: datastorePath(location.datastoreName, `${DISK_FOLDER}/${volumeId}.vmdk`),
    flatPath: join(location.datastoreMount, DISK_FOLDER, `${volumeId}-flat.vmdk`),
  };
}

/**
 * Creates a thin disk per volume, or reuses the existing one when it holds at least the volume's size.
 * Sizes are read from the flat file's length through the mount (a thin disk's flat file on an NFS datastore has its
 * full, sparse length). A disk made here is extended to its capacity through the mount when vSphere left it shorter:
 * vcsim writes an empty flat file; a real datastore already has the length, so that is a no-op there.
 * @throws TargetDiskTooSmallError for an existing disk smaller than its volume (nothing is changed),
 *   VsphereInsufficientResourcesError when the datastore is full.
 */
export async function ensureDisks(
  client: VsphereClient,
  location: DiskLocation,
  requests: readonly DiskRequest[],
): Promise<TargetDisk[]> {
  // Check every existing disk before making any, so a too-small one fails the call before it changes anything.
  const existing = new Map<string, number>();
  for (const request of requests) {
    const { fileName, flatPath } = diskFor(location, request.volumeId);
    const size = await lengthOf(flatPath);
    if (size === undefined) continue;
    if (size < request.sizeBytes)
      throw new TargetDiskTooSmallError(request.volumeId, fileName, size, request.sizeBytes);
    existing.set(request.volumeId, size);
  }
  const disks: TargetDisk[] = [];
  let folderMade = false; // made by VsphereTarget.open already; again here so ensureDisks stands on its own
  for (const request of requests) {
    const { fileName, flatPath } = diskFor(location, request.volumeId);
    const reused = existing.get(request.volumeId);
    if (reused !== undefined) {
      disks.push({ volumeId: request.volumeId, fileName, flatPath, sizeBytes: reused, created: false });
      continue;
    }
    if (!folderMade) {
      await makeDatastoreDirectory(client, location.datacenter, datastorePath(location.datastoreName, DISK_FOLDER));
      folderMade = true;
    }
    const capacityKiB = Math.ceil(request.sizeBytes / 1024);
    await createThinDisk(client, location.datacenter, fileName, capacityKiB);
    const sizeBytes = capacityKiB * 1024;
    if (((await lengthOf(flatPath)) ?? 0) < sizeBytes) await truncate(flatPath, sizeBytes);
    disks.push({ volumeId: request.volumeId, fileName, flatPath, sizeBytes, created: true });
  }
  return disks;
}

/** The length of a flat file through the mount, or undefined when there is none. */
export async function lengthOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
