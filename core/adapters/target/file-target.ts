import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { type FileHandle, link, open, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InvalidInputError, TargetUnavailableError } from '../../errors.js';
import type { BlockTarget } from '../../ports.js';

const ZERO_CHUNK = Buffer.alloc(8 * 1024 * 1024);
/** Offsets, lengths and buffer addresses of direct I/O are multiples of this (a 4 KiB-sector disk's logical block;
 * 512-byte-sector disks accept it too). */
const DIRECT_ALIGNMENT = 4096;
/** A direct write moves at most this much at once, through one aligned buffer. */
const DIRECT_CHUNK = 1024 * 1024;
const WASM_PAGE = 64 * 1024;

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
    return new FileTarget(path, handle, await openDirect(path), sizeBytes, info.isFile());
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * A second handle on the target that writes around the page cache (O_DIRECT), or undefined where the file system
 * refuses it (tmpfs, some FUSE mounts). Writing a pass through the page cache cost more CPU than anything but the
 * hashes: the kernel copies every byte into a cache page (~1 ms per MiB on the bench's machine, and more with
 * concurrent writers contending for the inode's lock), pages that only the later writeback uses. A direct write hands
 * the device the buffer itself (docs/bench.md).
 */
async function openDirect(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, constants.O_RDWR | constants.O_DIRECT);
  } catch {
    return undefined;
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
    private readonly directHandle: FileHandle | undefined,
    readonly sizeBytes: number,
    private readonly regularFile: boolean,
  ) {
    this.direct = directHandle;
  }

  /** The O_DIRECT handle while direct writes work; cleared (the handle stays open until close) once one is refused. */
  private direct: FileHandle | undefined;

  async write(data: Uint8Array, offset: number): Promise<void> {
    if (this.direct && data.length % DIRECT_ALIGNMENT === 0 && offset % DIRECT_ALIGNMENT === 0) {
      if (await this.writeDirect(data, offset)) return;
    }
    await writeAll(this.handle, data, 0, data.length, offset);
  }

  /**
   * Writes through the O_DIRECT handle, each chunk copied into an aligned buffer first (a block's bytes sit in a
   * segment at no particular alignment). False when the medium refuses direct I/O after all (EINVAL; the target then
   * writes through the page cache from here on) or no aligned buffer can be made.
   */
  private async writeDirect(data: Uint8Array, offset: number): Promise<boolean> {
    const direct = this.direct as FileHandle;
    const buffer = alignedBuffers.pop() ?? alignedBuffer(DIRECT_CHUNK);
    if (!buffer) return false;
    try {
      for (let done = 0; done < data.length; done += DIRECT_CHUNK) {
        const length = Math.min(DIRECT_CHUNK, data.length - done);
        buffer.set(data.subarray(done, done + length));
        await writeAll(direct, buffer, 0, length, offset + done);
      }
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
      // EINVAL is about alignment: the medium takes no direct I/O after all (or a short write left the rest
      // unaligned). The caller writes the whole range again through the page cache, as every write from here on.
      this.direct = undefined;
      return false;
    } finally {
      if (alignedBuffers.length < MAX_ALIGNED_BUFFERS) alignedBuffers.push(buffer);
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

  async close(): Promise<void> {
    await this.directHandle?.close();
    await this.handle.close();
  }
}

async function writeAll(handle: FileHandle, data: Uint8Array, from: number, length: number, offset: number) {
  for (let written = 0; written < length; ) {
    const { bytesWritten } = await handle.write(data, from + written, length - written, offset + written);
    written += bytesWritten;
  }
}

/**
 * Memory that starts on a page boundary, as direct I/O needs. Node cannot ask for alignment; a WebAssembly memory is
 * reserved in whole pages, so its buffer starts on one. (Were it not, the first direct write fails with EINVAL and the
 * target falls back to the page cache.)
 */
function alignedBuffer(size: number): Buffer | undefined {
  try {
    const memory = new WasmMemory({ initial: Math.ceil(size / WASM_PAGE) });
    return Buffer.from(memory.buffer, 0, size);
  } catch {
    // V8 reserves address space for each WebAssembly memory and caps the total: past it, write through the cache.
    return undefined;
  }
}

/** Aligned buffers of this process's targets, reused; a write finding none makes one. */
const alignedBuffers: Buffer[] = [];
const MAX_ALIGNED_BUFFERS = 16;

/** Node's global WebAssembly.Memory, which this project's TypeScript libraries (no DOM) do not declare. */
const WasmMemory = (
  globalThis as unknown as { WebAssembly: { Memory: new (pages: { initial: number }) => { buffer: ArrayBuffer } } }
).WebAssembly.Memory;

/** Size in bytes of an image file or block device, without opening it for writing. */
export async function targetSize(path: string): Promise<number> {
  return sizeOf(path, await stat(path));
}
