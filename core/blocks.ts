import { createHash } from 'node:crypto';

/** The EBS direct API block size: every block index addresses 512 KiB. */
export const BLOCK_SIZE = 524_288;

/** Number of 512 KiB blocks needed to cover `sizeBytes` (the last one may be partial on disk). */
export function blockCountFor(sizeBytes: number): number {
  return Math.ceil(sizeBytes / BLOCK_SIZE);
}

/** Bytes of block `index` that lie inside a volume of `sizeBytes` (BLOCK_SIZE except for a partial last block). */
export function bytesOnDisk(index: number, sizeBytes: number): number {
  return Math.max(0, Math.min(BLOCK_SIZE, sizeBytes - index * BLOCK_SIZE));
}

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256Base64(data: Uint8Array): string {
  return sha256(data).toString('base64');
}

export function sha256Hex(data: Uint8Array): string {
  return sha256(data).toString('hex');
}

const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);

/** A shared, read-only block of zeros. Never write into it. */
export function zeroBlock(): Buffer {
  return ZERO_BLOCK;
}

/** SHA-256 of a whole 512 KiB block of zeros, base64 (what EBS reports for a zeroed block). */
export const ZERO_BLOCK_SHA256_BASE64 = sha256Base64(ZERO_BLOCK);

/** True when every byte is zero (memcmp against a shared zero buffer). */
export function isAllZero(data: Uint8Array): boolean {
  for (let offset = 0; offset < data.length; offset += BLOCK_SIZE) {
    const part = data.subarray(offset, Math.min(data.length, offset + BLOCK_SIZE));
    if (!Buffer.from(part.buffer, part.byteOffset, part.length).equals(ZERO_BLOCK.subarray(0, part.length)))
      return false;
  }
  return true;
}
