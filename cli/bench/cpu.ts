import { open } from 'node:fs/promises';
import { BLOCK_SIZE, sha256 } from '../../core/blocks.js';

const MIB = 1024 * 1024;

/** CPU time (user + system) this process has used since `since`, in milliseconds. */
export function cpuMsSince(since: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(since);
  return (user + system) / 1000;
}

/** Milliseconds of CPU per MiB; 0 when nothing moved (a pass with no changed blocks). */
export function perMiB(cpuMs: number, bytes: number): number {
  return bytes > 0 ? cpuMs / (bytes / MIB) : 0;
}

/** Blocks read from the image at a time; only the hashing between reads is timed. */
const CHUNK_BLOCKS = 32;

/**
 * The hashing floor, measured in this process in the same run: the CPU `node:crypto` SHA-256 takes over `bytes` of the
 * image at `path`, one 512 KiB block per hash as the engine hashes them, in ms per MiB. Reading the image is not
 * counted, only the hashing (the content does not change SHA-256's cost, so the first `bytes` of the image serve).
 */
export async function sha256CpuPerMiB(path: string, bytes: number): Promise<number> {
  const file = await open(path, 'r');
  const chunk = Buffer.allocUnsafe(CHUNK_BLOCKS * BLOCK_SIZE);
  let hashed = 0;
  let cpuMs = 0;
  try {
    for (let position = 0; hashed < bytes; position += chunk.length) {
      const { bytesRead } = await file.read(chunk, 0, chunk.length, position);
      const whole = Math.floor(bytesRead / BLOCK_SIZE);
      if (whole === 0) break;
      const since = process.cpuUsage();
      for (let block = 0; block < whole && hashed < bytes; block++) {
        sha256(chunk.subarray(block * BLOCK_SIZE, (block + 1) * BLOCK_SIZE));
        hashed += BLOCK_SIZE;
      }
      cpuMs += cpuMsSince(since);
    }
  } finally {
    await file.close();
  }
  return perMiB(cpuMs, hashed);
}
