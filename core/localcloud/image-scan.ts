import { type FileHandle, open } from 'node:fs/promises';
import { BLOCK_SIZE, blockCountFor, isAllZero, sha256, ZERO_BLOCK_SHA256_BASE64 } from '../blocks.js';

const ZERO_SHA256 = Buffer.from(ZERO_BLOCK_SHA256_BASE64, 'base64');

/** A block of an image that a snapshot must store. `data` is only valid until the generator is resumed. */
export interface ScannedBlock {
  readonly index: number;
  /** 512 KiB; the part of a partial last block beyond the image's end reads as zeros. */
  readonly data: Buffer;
  readonly sha256: Buffer;
}

export interface ImageScanOptions {
  /** SHA-256 of each block in the parent snapshot; undefined for a block the parent lacks (or no parent). */
  readonly parentSha256?: (blockIndex: number) => Buffer | undefined;
  /** Blocks written at some point even if they now hold zeros (the volume's sidecar). */
  readonly written?: (blockIndex: number) => boolean;
  /** Bytes per read; a multiple of BLOCK_SIZE. @default 8 MiB */
  readonly chunkBytes?: number;
  /** Reads kept in flight. @default 3 */
  readonly readAhead?: number;
}

/**
 * Reads an image file of `sizeBytes` in large chunks and yields, chunk by chunk, the blocks a snapshot of it must
 * store: without a parent every written block (non-zero, or marked written); with a parent only the blocks whose
 * content differs from the parent's (a block that became zero included), plus written blocks the parent lacks.
 * Memory stays at `readAhead` chunks: yielded buffers are views into them, valid until the generator resumes.
 */
export async function* scanImageBlocks(
  imagePath: string,
  sizeBytes: number,
  options: ImageScanOptions = {},
): AsyncGenerator<ScannedBlock[]> {
  const chunkBytes = options.chunkBytes ?? 8 * 1024 * 1024;
  if (chunkBytes <= 0 || chunkBytes % BLOCK_SIZE !== 0)
    throw new RangeError('chunkBytes must be a multiple of BLOCK_SIZE');
  const blocksPerChunk = chunkBytes / BLOCK_SIZE;
  const blockCount = blockCountFor(sizeBytes);
  const chunkCount = Math.ceil(blockCount / blocksPerChunk);
  // Several reads in flight: reading a sparse file's holes costs kernel CPU, which parallel reads spread over cores.
  const depth = Math.max(1, Math.min(options.readAhead ?? 3, chunkCount));
  const buffers = Array.from({ length: depth }, () => Buffer.allocUnsafe(chunkBytes));
  const reads = new Map<number, Promise<number>>();
  const handle = await open(imagePath, 'r');
  const startRead = (chunk: number): void => {
    const read = readChunk(handle, buffers[chunk % depth] as Buffer, chunk * chunkBytes, sizeBytes, blockCount);
    read.catch(() => undefined); // awaited below; this only keeps an abandoned read from going unhandled
    reads.set(chunk, read);
  };
  try {
    for (let chunk = 0; chunk < depth; chunk++) startRead(chunk);
    for (let chunk = 0; chunk < chunkCount; chunk++) {
      const wanted = await (reads.get(chunk) as Promise<number>);
      reads.delete(chunk);
      const buffer = buffers[chunk % depth] as Buffer;
      const batch: ScannedBlock[] = [];
      for (let at = 0; at < wanted; at += BLOCK_SIZE) {
        const scanned = classify(
          chunk * blocksPerChunk + at / BLOCK_SIZE,
          buffer.subarray(at, at + BLOCK_SIZE),
          options,
        );
        if (scanned) batch.push(scanned);
      }
      if (batch.length > 0) yield batch;
      // Only now is this chunk's buffer free again.
      if (chunk + depth < chunkCount) startRead(chunk + depth);
    }
  } finally {
    await Promise.allSettled(reads.values());
    await handle.close();
  }
}

/** Reads the chunk at `offset` into `buffer`, zero-padding a partial last block; returns the bytes to scan. */
async function readChunk(
  handle: FileHandle,
  buffer: Buffer,
  offset: number,
  sizeBytes: number,
  blockCount: number,
): Promise<number> {
  const length = Math.min(buffer.length, sizeBytes - offset);
  const wanted = Math.min(buffer.length, blockCount * BLOCK_SIZE - offset);
  for (let done = 0; done < length; ) {
    const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
    if (bytesRead === 0) throw new Error(`image ended ${length - done} bytes early at offset ${offset + done}`);
    done += bytesRead;
  }
  buffer.fill(0, length, wanted);
  return wanted;
}

function classify(index: number, data: Buffer, options: ImageScanOptions): ScannedBlock | undefined {
  const zero = isAllZero(data);
  const baseline = options.parentSha256?.(index);
  if (baseline === undefined && zero && !options.written?.(index)) return undefined; // never written: EBS skips it
  // Hashing is the expensive part; a zero block's digest is known.
  const digest = zero ? ZERO_SHA256 : sha256(data);
  if (baseline?.equals(digest)) return undefined;
  return { index, data, sha256: digest };
}
