import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { z } from 'zod';
import { BLOCK_SIZE, blockCountFor, sha256, zeroBlock } from '../blocks.js';
import {
  CorruptSegmentError,
  InvalidInputError,
  SeedNotPublishedError,
  SeedTooSmallError,
  StagedObjectMissingError,
  WorkCancelledError,
} from '../errors.js';
import type { Staging } from '../ports.js';
import { parseStagedJson, sha256Hex } from './manifest.js';
import { hasValidMac, signRecord } from './run-key.js';

/**
 * Seeds: a target disk that already holds most of a volume (the original disk that survived at home). The target side
 * hashes it, SHA-256 per 512 KiB block, and publishes the hash list with a record saying what was hashed; a seeded
 * pass then carries only the blocks whose hash differs (docs/delta-format.md, "Seed record").
 *
 *   <…>/seed.json     the record (SeedRecord), put last: its presence means the hash list is whole
 *   <…>/seed.hashes   the hash list: 32 bytes (SHA-256) per block, block 0 first, blockCount × 32 bytes
 */
export const SEED_FORMAT = 'homebound.seed/v1';

/** Bytes of one block's hash in a hash list. */
export const SEED_HASH_BYTES = 32;

export const SeedRecord = z.object({
  format: z.literal(SEED_FORMAT),
  volumeKey: z.string(),
  /** What was hashed: an EBS volume id, a vSphere disk "[ds] path.vmdk", an image path. */
  seed: z.string(),
  seedSizeBytes: z.number().int().positive(),
  /** ceil(seedSizeBytes / 512 KiB) */
  blockCount: z.number().int().nonnegative(),
  /** The key the publisher put the hash list at, in its own staging. A reader takes the record's sibling
   * (`seedHashesKey(recordKey)`), whose file name must match. */
  hashesKey: z.string(),
  /** SHA-256 (hex) of the hash list object. */
  hashesSha256: sha256Hex,
  createdAt: z.string(),
  /** HMAC-SHA256 with the run's gateway key (core/engine/run-key.ts), as acks carry. */
  mac: sha256Hex.optional(),
});
export type SeedRecord = z.infer<typeof SeedRecord>;

/** What an applier's journal starts at on a seed, and a seeded pass's `baseSnapshotId`. */
export function seedBaseId(record: SeedRecord): string {
  return `seed:${record.hashesSha256}`;
}

/** The hash list's key beside a record key: `…/seed.json` → `…/seed.hashes`. */
export function seedHashesKey(recordKey: string): string {
  if (!recordKey.endsWith('.json'))
    throw new InvalidInputError(`seed record key must end in .json, got "${recordKey}"`);
  return `${recordKey.slice(0, -'.json'.length)}.hashes`;
}

/** Blocks hashed per read: 8 MiB, large enough to read a disk at its sequential speed. */
const READ_BLOCKS = 16;

export interface HashSeedOptions {
  /** Stops hashing between reads; the call rejects with WorkCancelledError. */
  readonly signal?: AbortSignal;
  /** Called after each read with the bytes hashed so far. */
  readonly onProgress?: (bytesDone: number) => void;
}

/**
 * Hashes [0, sizeBytes) of a file or block device, SHA-256 per 512 KiB block, reading sequentially while the previous
 * read is hashed. A short last block is hashed zero-padded to 512 KiB, as EBS pads a snapshot's last block.
 * @returns the hash list, 32 bytes a block.
 * @throws InvalidInputError for a bad size; SeedTooSmallError when the seed ends before sizeBytes;
 *   WorkCancelledError once `signal` aborts; the file system's errors (ENOENT, EACCES) as they come.
 */
export async function hashSeed(path: string, sizeBytes: number, options: HashSeedOptions = {}): Promise<Buffer> {
  if (!(Number.isSafeInteger(sizeBytes) && sizeBytes > 0)) {
    throw new InvalidInputError(`seed size must be a positive whole number of bytes, got ${sizeBytes}`);
  }
  const blockCount = blockCountFor(sizeBytes);
  const hashes = Buffer.alloc(blockCount * SEED_HASH_BYTES);
  const handle = await open(path, 'r');
  try {
    const buffers = [Buffer.alloc(READ_BLOCKS * BLOCK_SIZE), Buffer.alloc(READ_BLOCKS * BLOCK_SIZE)];
    const readChunk = async (first: number, into: Buffer) => {
      const offset = first * BLOCK_SIZE;
      const length = Math.min(into.length, sizeBytes - offset);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(into, done, length - done, offset + done);
        if (bytesRead === 0) throw new SeedTooSmallError(path, offset + done, sizeBytes);
        done += bytesRead;
      }
      // Zero-pad a short last block, as EBS does.
      into.fill(0, length, Math.min(into.length, Math.ceil(length / BLOCK_SIZE) * BLOCK_SIZE));
      return length;
    };
    let next: Promise<number> | undefined = readChunk(0, buffers[0] as Buffer);
    for (let first = 0, turn = 0; next; first += READ_BLOCKS, turn ^= 1) {
      const length = await next;
      if (options.signal?.aborted) throw new WorkCancelledError(`hashing seed ${path}`, options.signal.reason);
      const following = first + READ_BLOCKS;
      next = following < blockCount ? readChunk(following, buffers[turn ^ 1] as Buffer) : undefined;
      // A read of the other buffer runs meanwhile; one still in flight when hashing fails must settle unobserved.
      next?.catch(() => undefined);
      const chunk = buffers[turn] as Buffer;
      for (let i = 0; i * BLOCK_SIZE < length; i++) {
        sha256(chunk.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE)).copy(hashes, (first + i) * SEED_HASH_BYTES);
      }
      options.onProgress?.(first * BLOCK_SIZE + length);
    }
  } finally {
    await handle.close();
  }
  return hashes;
}

export interface PublishSeedInput {
  readonly volumeKey: string;
  readonly seed: string;
  readonly seedSizeBytes: number;
  readonly hashes: Buffer;
}

/**
 * Puts the hash list, then the record (last: its presence means both are whole). Idempotent: publishing again
 * rewrites both.
 * @throws InvalidInputError when the hash list does not hold one hash per block of seedSizeBytes.
 */
export async function publishSeed(
  staging: Staging,
  recordKey: string,
  input: PublishSeedInput,
  runKey?: Buffer,
): Promise<SeedRecord> {
  const hashesKey = seedHashesKey(recordKey);
  if (!(Number.isSafeInteger(input.seedSizeBytes) && input.seedSizeBytes > 0)) {
    throw new InvalidInputError(`seedSizeBytes must be a positive whole number, got ${input.seedSizeBytes}`);
  }
  const blockCount = blockCountFor(input.seedSizeBytes);
  if (input.hashes.length !== blockCount * SEED_HASH_BYTES) {
    throw new InvalidInputError(
      `hashes holds ${input.hashes.length} bytes; a seed of ${input.seedSizeBytes} bytes needs ${blockCount * SEED_HASH_BYTES} (32 per block)`,
    );
  }
  const record: SeedRecord = {
    format: SEED_FORMAT,
    volumeKey: input.volumeKey,
    seed: input.seed,
    seedSizeBytes: input.seedSizeBytes,
    blockCount,
    hashesKey,
    hashesSha256: createHash('sha256').update(input.hashes).digest('hex'),
    createdAt: new Date().toISOString(),
  };
  const signed = runKey ? signRecord(runKey, record) : record;
  await staging.put(hashesKey, input.hashes);
  await staging.put(recordKey, Buffer.from(JSON.stringify(signed)));
  return signed;
}

/**
 * Reads a published seed: its record and its hash list, both checked.
 * @throws SeedNotPublishedError when the record is absent; CorruptSegmentError for a record that is not a seed
 *   record, lacks a valid MAC (when `runKey` is given), names another hash list, or whose hash list is missing, of
 *   the wrong length or does not match its digest.
 */
export async function readSeed(
  staging: Staging,
  recordKey: string,
  runKey?: Buffer,
): Promise<{ record: SeedRecord; hashes: Buffer }> {
  const hashesKey = seedHashesKey(recordKey);
  const body = await staging.get(recordKey).catch((error: unknown) => {
    if (error instanceof StagedObjectMissingError) throw new SeedNotPublishedError(recordKey, { cause: error });
    throw error;
  });
  const record = parseStagedJson(SeedRecord, body, recordKey);
  if (runKey && !hasValidMac(runKey, record)) {
    throw new CorruptSegmentError(recordKey, "its MAC is missing or not made with this run's key");
  }
  if (baseName(record.hashesKey) !== baseName(hashesKey)) {
    throw new CorruptSegmentError(recordKey, `names hash list ${record.hashesKey}, not ${baseName(hashesKey)}`);
  }
  if (record.blockCount !== blockCountFor(record.seedSizeBytes)) {
    throw new CorruptSegmentError(
      recordKey,
      `blockCount ${record.blockCount} does not fit ${record.seedSizeBytes} bytes`,
    );
  }
  const hashes = await staging.get(hashesKey).catch((error: unknown) => {
    if (error instanceof StagedObjectMissingError)
      throw new CorruptSegmentError(hashesKey, 'missing beside its record');
    throw error;
  });
  if (hashes.length !== record.blockCount * SEED_HASH_BYTES) {
    throw new CorruptSegmentError(
      hashesKey,
      `${hashes.length} bytes, the record says ${record.blockCount} blocks (${record.blockCount * SEED_HASH_BYTES} bytes)`,
    );
  }
  if (createHash('sha256').update(hashes).digest('hex') !== record.hashesSha256) {
    throw new CorruptSegmentError(hashesKey, 'does not match the digest its record gives');
  }
  return { record, hashes };
}

/** SHA-256 of a whole block of zeros: a seed block with this hash holds nothing a pass must overwrite. */
export const ZERO_BLOCK_HASH = sha256(zeroBlock());

/** The hash of block `index` in a hash list. */
export function seedHashAt(hashes: Buffer, index: number): Buffer {
  return hashes.subarray(index * SEED_HASH_BYTES, (index + 1) * SEED_HASH_BYTES);
}

function baseName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
