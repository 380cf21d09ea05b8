import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CorruptSegmentError } from '../errors.js';

/** Formats carried in every staged JSON document, so a reader refuses what it does not understand. */
export const PLAN_FORMAT = 'homebound.plan/v1';
export const MANIFEST_FORMAT = 'homebound.manifest/v2';
export const ACK_FORMAT = 'homebound.ack/v1';

/** full: every block, onto a blanked target. incremental: blocks changed since the previous pass's snapshot.
 * seeded: every block compared with a seed's hash list (core/engine/seed.ts); only those that differ are carried. */
export const PassKind = z.enum(['full', 'incremental', 'seeded']);
export type PassKind = z.infer<typeof PassKind>;

export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

export const ShardSummary = z.object({
  shardId: z.number().int().nonnegative(),
  firstIndex: z.number().int().nonnegative(),
  lastIndex: z.number().int().nonnegative(),
  blocks: z.number().int().nonnegative(),
});
export type ShardSummary = z.infer<typeof ShardSummary>;

/** plan.json: what a pass must carry, split into shards. Written by the planner. */
export const PassPlan = z.object({
  format: z.literal(PLAN_FORMAT),
  volumeKey: z.string(),
  passNumber: z.number().int().positive(),
  kind: PassKind,
  snapshotId: z.string(),
  baseSnapshotId: z.string().optional(),
  volumeSizeBytes: z.number().int().positive(),
  blocksListed: z.number().int().nonnegative(),
  /** A seeded pass: blocks the seed holds (hash not that of zeros) but the snapshot does not list; planned as refs
   * without a token, which read as zeros, so they become zero entries. */
  seedOnlyBlocks: z.number().int().nonnegative().optional(),
  /** A seeded pass: what its seed is (the seed record's `seed`: a volume id, a disk path). */
  seedName: z.string().optional(),
  segmentBlocks: z.number().int().positive(),
  shards: z.array(ShardSummary),
  listCalls: z.number().int().nonnegative(),
  createdAt: z.string(),
});
export type PassPlan = z.infer<typeof PassPlan>;

/** plan/shard-NNNN.json: the block refs of one shard, in ascending index order. */
export const ShardPlan = z.object({
  shardId: z.number().int().nonnegative(),
  blocks: z.array(z.tuple([z.number().int().nonnegative(), z.string().nullable()])),
  /** A seeded pass: the seed's SHA-256 of each block in `blocks`, in the same order, concatenated (32 bytes each),
   * base64. The streamer carries a block only when its hash differs. */
  seedSha256: z.string().optional(),
});
export type ShardPlan = z.infer<typeof ShardPlan>;

export const SegmentRecord = z.object({
  key: z.string(),
  /** SHA-256 (hex) of the segment's index (header and entries, whose entries carry each block's SHA-256). */
  indexSha256: sha256Hex,
  bytes: z.number().int().positive(),
  entries: z.number().int().nonnegative(),
  dataBlocks: z.number().int().nonnegative(),
  firstIndex: z.number().int().nonnegative(),
  lastIndex: z.number().int().nonnegative(),
});
export type SegmentRecord = z.infer<typeof SegmentRecord>;

/** shards/NNNN.json: the segments of one fully staged shard. */
export const ShardRecord = z.object({
  shardId: z.number().int().nonnegative(),
  segments: z.array(SegmentRecord),
});
export type ShardRecord = z.infer<typeof ShardRecord>;

/** manifest.json: the commit record of a pass. Its presence means every listed segment was staged. */
export const PassManifest = z.object({
  format: z.literal(MANIFEST_FORMAT),
  volumeKey: z.string(),
  passNumber: z.number().int().positive(),
  kind: PassKind,
  snapshotId: z.string(),
  baseSnapshotId: z.string().optional(),
  volumeSizeBytes: z.number().int().positive(),
  blocksListed: z.number().int().nonnegative(),
  /** Blocks the pass carries (data + zero entries). */
  blocksCarried: z.number().int().nonnegative(),
  zeroBlocks: z.number().int().nonnegative(),
  /** Listed blocks a full pass left out because they read as zeros (the applier blanks the target first). */
  zeroBlocksSkipped: z.number().int().nonnegative(),
  /** A seeded pass: listed blocks read and compared with the seed, and blocks carried because they differ (data, or
   * a zero entry where the snapshot has zeros or nothing and the seed has data). */
  seed: z
    .object({
      blocksCompared: z.number().int().nonnegative(),
      blocksDiffering: z.number().int().nonnegative(),
      /** What the seed is (the plan's seedName). */
      name: z.string().optional(),
    })
    .optional(),
  segments: z.array(SegmentRecord),
  createdAt: z.string(),
  /** SHA-256 (hex) of the canonical JSON of every other field. */
  digest: sha256Hex,
});
export type PassManifest = z.infer<typeof PassManifest>;

export const PassAck = z.object({
  format: z.literal(ACK_FORMAT),
  volumeKey: z.string(),
  passNumber: z.number().int().positive(),
  snapshotId: z.string(),
  manifestDigest: sha256Hex,
  target: z.string(),
  blocksWritten: z.number().int().nonnegative(),
  appliedAt: z.string(),
  /** HMAC-SHA256 (hex) over the other fields with the run's gateway key (core/gateway/run-key.ts). */
  mac: sha256Hex.optional(),
});
export type PassAck = z.infer<typeof PassAck>;

/** Digest of a manifest's content without its `digest` field; keys sorted so it does not depend on field order. */
export function manifestDigest(manifest: Omit<PassManifest, 'digest'>): string {
  return createHash('sha256').update(canonicalJson(manifest)).digest('hex');
}

/**
 * JSON with object keys sorted and `omitKey` (at any depth) and undefined values left out: the bytes a digest or MAC
 * covers, whatever order the writer put the fields in.
 */
export function canonicalJson(value: unknown, omitKey = 'digest'): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item, omitKey)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([key, v]) => key !== omitKey && v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([key, v]) => `${JSON.stringify(key)}:${canonicalJson(v, omitKey)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Parses a staged JSON document against its schema.
 * @throws CorruptSegmentError naming the object when it is not JSON or does not match.
 */
export function parseStagedJson<T>(schema: z.ZodType<T>, body: Buffer, key: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    throw new CorruptSegmentError(key, 'not valid JSON');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw new CorruptSegmentError(key, `does not match its schema: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
