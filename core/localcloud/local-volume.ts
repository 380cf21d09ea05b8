import { createHash } from 'node:crypto';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { BLOCK_SIZE } from '../blocks.js';
import { InvalidInputError, VolumeNotFoundError } from '../errors.js';
import type { SnapshotInfo, SnapshotStore } from './snapshot-store.js';
import { markBlocksWritten, writtenSidecarPath } from './written-blocks.js';

/**
 * Local volumes: sparse image files standing in for EBS volumes of the local cloud. Writes go through these helpers
 * so the `<image>.written` sidecar knows every block ever written — a block written with zeros is still listed by
 * EBS, and a sparse file alone cannot tell it from a hole.
 */

/** Creates (replacing any existing one) a sparse volume of exactly `sizeBytes`. Throws InvalidInputError. */
export async function createVolume(path: string, sizeBytes: number): Promise<void> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
    throw new InvalidInputError(`volume size must be a positive whole number of bytes, got ${sizeBytes}`);
  }
  await mkdir(dirname(path), { recursive: true });
  await rm(writtenSidecarPath(path), { force: true });
  const handle = await open(path, 'w');
  try {
    await handle.truncate(sizeBytes);
  } finally {
    await handle.close();
  }
}

/**
 * Writes `data` at byte `offset` of a volume and records the blocks it touches as written.
 * Throws VolumeNotFoundError, InvalidInputError when the write would pass the end of the volume.
 */
export async function writeVolume(path: string, offset: number, data: Uint8Array): Promise<void> {
  const sizeBytes = await volumeSize(path);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + data.length > sizeBytes) {
    throw new InvalidInputError(
      `write of ${data.length} bytes at ${offset} does not fit volume ${path} (${sizeBytes} bytes)`,
    );
  }
  if (data.length === 0) return;
  const firstBlock = Math.floor(offset / BLOCK_SIZE);
  const lastBlock = Math.floor((offset + data.length - 1) / BLOCK_SIZE);
  // Marked before the data lands: a block marked but not written snapshots as zeros; the reverse would be lost.
  await markBlocksWritten(path, firstBlock, lastBlock - firstBlock + 1);
  const handle = await open(path, 'r+');
  try {
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await handle.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
  } finally {
    await handle.close();
  }
}

/** Writes whole blocks starting at block `firstBlock` (`data` need not be a multiple of 512 KiB at the end). */
export async function writeVolumeBlocks(path: string, firstBlock: number, data: Uint8Array): Promise<void> {
  await writeVolume(path, firstBlock * BLOCK_SIZE, data);
}

/** Reads `length` bytes at `offset` (holes read as zeros). Throws VolumeNotFoundError, InvalidInputError. */
export async function readVolume(path: string, offset: number, length: number): Promise<Buffer> {
  const sizeBytes = await volumeSize(path);
  if (offset < 0 || length < 0 || offset + length > sizeBytes) {
    throw new InvalidInputError(
      `read of ${length} bytes at ${offset} does not fit volume ${path} (${sizeBytes} bytes)`,
    );
  }
  const data = Buffer.alloc(length);
  const handle = await open(path, 'r');
  try {
    for (let done = 0; done < length; ) {
      const { bytesRead } = await handle.read(data, done, length - done, offset + done);
      if (bytesRead === 0) break; // the file shrank underneath: the rest reads as zeros
      done += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return data;
}

/** Size of a volume in bytes. Throws VolumeNotFoundError. */
export async function volumeSize(path: string): Promise<number> {
  const info = await stat(path).catch((error: unknown) => {
    throw new VolumeNotFoundError(path, { cause: error });
  });
  return info.size;
}

/** A stable EBS-style volume id for an image path: `vol-` + 17 hex characters. */
export function volumeIdFor(path: string): string {
  return `vol-${createHash('sha256').update(resolve(path)).digest('hex').slice(0, 17)}`;
}

/** Options of `snapshotVolume`. */
export interface SnapshotVolumeOptions {
  /** @default volumeIdFor(path) */
  readonly volumeId?: string;
  /** The previous snapshot of this volume, for an incremental snapshot. */
  readonly parentSnapshotId?: string | undefined;
  readonly description?: string;
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * Takes a snapshot of a local volume into the store, as EC2 CreateSnapshot would (see
 * SnapshotStore.createFromImage, which also lists what it throws). Returns the completed snapshot.
 */
export async function snapshotVolume(
  store: SnapshotStore,
  path: string,
  options: SnapshotVolumeOptions = {},
): Promise<SnapshotInfo> {
  return store.createFromImage(path, {
    volumeId: options.volumeId ?? volumeIdFor(path),
    parentSnapshotId: options.parentSnapshotId,
    ...(options.description === undefined ? {} : { description: options.description }),
    ...(options.tags === undefined ? {} : { tags: options.tags }),
  });
}
