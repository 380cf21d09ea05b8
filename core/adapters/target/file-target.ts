import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { type FileHandle, link, open, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InvalidInputError, TargetUnavailableError } from '../../errors.js';
import type { BlockTarget } from '../../ports.js';

const ZERO_CHUNK = Buffer.alloc(8 * 1024 * 1024);

export interface OpenTargetOptions {
  /** Create a sparse image file of this size when `path` does not exist. @default refuse a missing target */
  readonly createWithSize?: number;
}

/**
 * A target disk addressed by byte offset: a regular (usually sparse) image file or a block device.
 * @throws TargetUnavailableError when the path cannot be opened read-write or is neither a file nor a block device.
 */
export async function openFileTarget(path: string, options: OpenTargetOptions = {}): Promise<BlockTarget> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDWR);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.createWithSize !== undefined) {
      if (!(Number.isInteger(options.createWithSize) && options.createWithSize > 0)) {
        throw new InvalidInputError(`target size must be a positive number of bytes, got ${options.createWithSize}`);
      }
      handle = await createSparse(path, options.createWithSize);
    } else {
      throw new TargetUnavailableError(path, describeOpenError(code), { cause: error });
    }
  }
  try {
    const info = await handle.stat();
    const sizeBytes = await sizeOf(path, info);
    return new FileTarget(path, handle, sizeBytes, info.isFile());
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * Creates the sparse image whole or not at all: made at a temp name, grown to `size`, made durable, then linked to
 * `path` — so a crash (an agent SIGKILLed in PrepareTarget) never leaves a short image that a retry would take for a
 * disk too small. When another opener linked its image first (an agent's retried task racing the original one), the
 * link fails with EEXIST and that image, complete by the same rule, is the one both use.
 */
async function createSparse(path: string, size: number): Promise<FileHandle> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.creating`);
  try {
    const created = await open(temp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await created.truncate(size);
      await created.sync();
    } finally {
      await created.close();
    }
    await link(temp, path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    await syncDir(dirname(path));
    return await open(path, constants.O_RDWR);
  } catch (error) {
    throw new TargetUnavailableError(path, describeOpenError((error as NodeJS.ErrnoException).code), { cause: error });
  } finally {
    await rm(temp, { force: true });
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function describeOpenError(code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
      return 'no such file or device';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    case 'EROFS':
      return 'read-only file system';
    case 'EBUSY':
      return 'device busy (mounted or in use?)';
    default:
      return code ?? 'unknown error';
  }
}

async function sizeOf(path: string, info: Stats): Promise<number> {
  if (info.isFile()) return info.size;
  if (info.isBlockDevice()) {
    // Node cannot issue BLKGETSIZE64; sysfs reports the size in 512-byte sectors.
    const major = Math.floor(info.rdev / 256) & 0xfff;
    const minor = (info.rdev & 0xff) | ((info.rdev >> 12) & 0xfff00);
    const sectors = await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8').catch(() => undefined);
    if (sectors === undefined) throw new TargetUnavailableError(path, 'cannot read the block device size from sysfs');
    return Number(sectors.trim()) * 512;
  }
  throw new TargetUnavailableError(path, 'neither a regular file nor a block device');
}

class FileTarget implements BlockTarget {
  constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly sizeBytes: number,
    private readonly regularFile: boolean,
  ) {}

  async write(data: Uint8Array, offset: number): Promise<void> {
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.handle.write(data, written, data.length - written, offset + written);
      written += bytesWritten;
    }
  }

  async read(length: number, offset: number): Promise<Buffer> {
    const buffer = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buffer;
  }

  sync(): Promise<void> {
    return this.handle.datasync();
  }

  async blank(sizeBytes: number): Promise<void> {
    if (this.regularFile) {
      // Dropping and re-extending the file frees every block: the image reads as zeros and stays sparse.
      await this.handle.truncate(0);
      await this.handle.truncate(this.sizeBytes);
      return;
    }
    for (let offset = 0; offset < sizeBytes; offset += ZERO_CHUNK.length) {
      await this.write(ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, sizeBytes - offset)), offset);
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** Size in bytes of an image file or block device, without opening it for writing. */
export async function targetSize(path: string): Promise<number> {
  return sizeOf(path, await stat(path));
}
