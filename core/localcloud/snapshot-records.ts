import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * On-disk format of one stored snapshot, in `<store>/snapshots/<snapshotId>/`:
 * - `meta.json`   the snapshot's attributes (below), replaced atomically on every state change;
 * - `blocks.dat`  the blocks written in this snapshot only, each in a 512 KiB slot, appended;
 * - `blocks.idx`  one fixed-size record per owned block (index, slot, SHA-256), sorted by block index, written when
 *                 the snapshot completes. Blocks a child shares with its parent live only in the parent's files.
 */

export const SNAPSHOT_STATUSES = ['pending', 'completed', 'error'] as const;
export type SnapshotStatus = (typeof SNAPSHOT_STATUSES)[number];

const metaSchema = z.object({
  version: z.literal(1),
  snapshotId: z.string().regex(/^snap-[0-9a-f]{17}$/),
  status: z.enum(SNAPSHOT_STATUSES),
  volumeId: z.string(),
  volumeSizeGiB: z.number().int().positive(),
  sourceBytes: z.number().int().positive(),
  parentSnapshotId: z.string().optional(),
  description: z.string(),
  startTime: z.iso.datetime(),
  completionTime: z.iso.datetime().optional(),
  timeoutMinutes: z.number().int().positive(),
  tags: z.record(z.string(), z.string()),
  clientToken: z.string().optional(),
  /** Canonical JSON of the StartSnapshot parameters, to tell an idempotent retry from a conflicting reuse. */
  requestFingerprint: z.string().optional(),
  /** Deleted while children still share its blocks: hidden from every reader, files kept until the last child goes. */
  deleted: z.boolean().optional(),
});

export type SnapshotMeta = z.infer<typeof metaSchema>;

/** A block stored in a snapshot's own data file. */
export interface OwnedBlock {
  readonly index: number;
  /** Position in `blocks.dat`, in units of BLOCK_SIZE. */
  readonly slot: number;
  /** Raw 32-byte SHA-256 of the (zero-padded) 512 KiB block. */
  readonly sha256: Buffer;
}

const RECORD_BYTES = 4 + 4 + 32;

export function metaPath(dir: string): string {
  return join(dir, 'meta.json');
}

export function dataPath(dir: string): string {
  return join(dir, 'blocks.dat');
}

export function indexPath(dir: string): string {
  return join(dir, 'blocks.idx');
}

/** Reads and validates `meta.json`. Throws when absent or malformed. */
export async function readMeta(dir: string): Promise<SnapshotMeta> {
  return metaSchema.parse(JSON.parse(await readFile(metaPath(dir), 'utf8')));
}

export async function writeMeta(dir: string, meta: SnapshotMeta): Promise<void> {
  await writeFileAtomically(metaPath(dir), JSON.stringify(meta, null, 2));
}

/** Writes the owned-block index, sorted by block index. */
export async function writeIndex(dir: string, blocks: Iterable<OwnedBlock>): Promise<void> {
  const sorted = [...blocks].sort((a, b) => a.index - b.index);
  const out = Buffer.alloc(sorted.length * RECORD_BYTES);
  sorted.forEach((block, i) => {
    const at = i * RECORD_BYTES;
    out.writeUInt32LE(block.index, at);
    out.writeUInt32LE(block.slot, at + 4);
    block.sha256.copy(out, at + 8);
  });
  await writeFileAtomically(indexPath(dir), out);
}

/** Reads the owned-block index; an absent index (a snapshot that never completed) reads as empty. */
export async function readIndex(dir: string): Promise<OwnedBlock[]> {
  let raw: Buffer;
  try {
    raw = await readFile(indexPath(dir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  if (raw.length % RECORD_BYTES !== 0) throw new Error(`${indexPath(dir)} is truncated`);
  const blocks: OwnedBlock[] = [];
  for (let at = 0; at < raw.length; at += RECORD_BYTES) {
    blocks.push({
      index: raw.readUInt32LE(at),
      slot: raw.readUInt32LE(at + 4),
      sha256: Buffer.from(raw.subarray(at + 8, at + RECORD_BYTES)),
    });
  }
  return blocks;
}

let temporaryCounter = 0;

// A reader in another process must never see half a file: write aside, then rename over.
async function writeFileAtomically(path: string, data: string | Uint8Array): Promise<void> {
  temporaryCounter += 1;
  const temporary = `${path}.${process.pid}.${temporaryCounter}.tmp`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}
