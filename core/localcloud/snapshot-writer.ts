import { BLOCK_SIZE, sha256 } from '../blocks.js';
import { EbsApiError, validationError } from './errors.js';
import type { SnapshotRecord, SnapshotStoreInternals } from './snapshot-lineage.js';

/**
 * The EBS write API (StartSnapshot, PutSnapshotBlock, CompleteSnapshot) over the snapshot store's internals.
 * Limits follow the EBS direct API documentation.
 */

const GiB = 1024 ** 3;
const BLOCKS_PER_GIB = GiB / BLOCK_SIZE;
const MAX_VOLUME_GIB = 65_536;
const DEFAULT_TIMEOUT_MINUTES = 60;
const MIN_TIMEOUT_MINUTES = 10;
const MAX_TIMEOUT_MINUTES = 4_320;
/** What EBS reports as the volume of a snapshot written through StartSnapshot. */
const API_VOLUME_ID = 'vol-ffffffff';

/** StartSnapshot parameters. */
export interface StartSnapshotParams {
  readonly volumeSizeGiB: number;
  readonly parentSnapshotId?: string | undefined;
  /** Idempotency token: a retry with the same token and parameters returns the same snapshot. */
  readonly clientToken?: string | undefined;
  readonly description?: string | undefined;
  readonly tags?: Readonly<Record<string, string>> | undefined;
  /** Minutes until a pending snapshot turns to `error`, 10–4,320. @default 60 */
  readonly timeoutMinutes?: number | undefined;
}

/** CompleteSnapshot's optional aggregate checksum. */
export interface CompleteChecksum {
  /** base64 SHA-256 over the raw 32-byte digests of the blocks put, in block-index order. */
  readonly checksum?: string | undefined;
  /** Must be SHA256 when a checksum is given. */
  readonly algorithm?: string | undefined;
  /** Must be LINEAR when a checksum is given. */
  readonly aggregation?: string | undefined;
}

const completing = new WeakMap<SnapshotRecord, Promise<'completed'>>();

export async function startSnapshot(
  store: SnapshotStoreInternals,
  params: StartSnapshotParams,
): Promise<SnapshotRecord> {
  const { volumeSizeGiB, clientToken } = params;
  if (!Number.isInteger(volumeSizeGiB) || volumeSizeGiB < 1 || volumeSizeGiB > MAX_VOLUME_GIB) {
    throw validationError('INVALID_VOLUME_SIZE', `VolumeSize must be 1–${MAX_VOLUME_GIB} GiB, got ${volumeSizeGiB}`);
  }
  const timeoutMinutes = params.timeoutMinutes ?? DEFAULT_TIMEOUT_MINUTES;
  if (
    !Number.isInteger(timeoutMinutes) ||
    timeoutMinutes < MIN_TIMEOUT_MINUTES ||
    timeoutMinutes > MAX_TIMEOUT_MINUTES
  ) {
    throw validationError('INVALID_PARAMETER_VALUE', `Timeout must be 10–4320 minutes, got ${timeoutMinutes}`);
  }
  const parent = params.parentSnapshotId === undefined ? undefined : await store.readable(params.parentSnapshotId);
  if (parent && parent.meta.volumeSizeGiB > volumeSizeGiB) {
    throw validationError(
      'INVALID_VOLUME_SIZE',
      `VolumeSize is smaller than the parent's ${parent.meta.volumeSizeGiB} GiB`,
    );
  }
  const description = params.description ?? '';
  const tags = { ...params.tags };
  const fingerprint = JSON.stringify([
    volumeSizeGiB,
    params.parentSnapshotId ?? null,
    description,
    Object.entries(tags).sort(),
    timeoutMinutes,
  ]);
  // Synchronous from the token lookup to begin(): a concurrent retry with the same token finds this record.
  if (clientToken !== undefined) {
    for (const rec of store.records()) {
      if (rec.meta.clientToken !== clientToken || rec.meta.deleted) continue;
      if (rec.meta.requestFingerprint !== fingerprint) {
        throw new EbsApiError(
          'ConflictException',
          undefined,
          `ClientToken ${clientToken} was used with other parameters`,
        );
      }
      await rec.ready;
      return rec;
    }
  }
  const rec = store.begin(
    {
      volumeId: API_VOLUME_ID,
      volumeSizeGiB,
      sourceBytes: volumeSizeGiB * GiB,
      description,
      tags,
      timeoutMinutes,
      ...(clientToken === undefined ? {} : { clientToken }),
    },
    parent,
    fingerprint,
  );
  await rec.ready;
  return rec;
}

export async function putSnapshotBlock(
  store: SnapshotStoreInternals,
  snapshotId: string,
  index: number,
  data: Uint8Array,
  checksumBase64: string | undefined,
): Promise<Buffer> {
  const rec = await writable(store, snapshotId);
  if (!Number.isInteger(index) || index < 0 || index >= rec.meta.volumeSizeGiB * BLOCKS_PER_GIB) {
    throw validationError(
      'INVALID_PARAMETER_VALUE',
      `BlockIndex ${index} is outside the ${rec.meta.volumeSizeGiB} GiB volume`,
    );
  }
  if (data.length !== BLOCK_SIZE) {
    throw validationError('INVALID_PARAMETER_VALUE', `block data must be ${BLOCK_SIZE} bytes, got ${data.length}`);
  }
  const digest = sha256(data);
  if (checksumBase64 !== undefined && digest.toString('base64') !== checksumBase64) {
    throw validationError('INVALID_BLOCK', `the checksum ${checksumBase64} does not match the block data`);
  }
  const write = store.append(rec, [{ index, data, sha256: digest }]);
  rec.inflight.add(write);
  try {
    await write;
  } finally {
    rec.inflight.delete(write);
  }
  return digest;
}

export async function completeSnapshot(
  store: SnapshotStoreInternals,
  snapshotId: string,
  changedBlocksCount: number,
  checksum: CompleteChecksum,
): Promise<'completed'> {
  const rec = await store.record(snapshotId);
  await rec.ready;
  // A retried CompleteSnapshot (its first answer lost) must not fail.
  if (rec.meta.status === 'completed') return 'completed';
  let done = completing.get(rec);
  if (!done) {
    done = finishWrites(store, rec, changedBlocksCount, checksum).finally(() => completing.delete(rec));
    completing.set(rec, done);
  }
  return done;
}

async function finishWrites(
  store: SnapshotStoreInternals,
  rec: SnapshotRecord,
  changedBlocksCount: number,
  checksum: CompleteChecksum,
): Promise<'completed'> {
  await writable(store, rec.meta.snapshotId);
  await Promise.all(rec.inflight);
  if (changedBlocksCount !== rec.owned.size) {
    throw validationError(
      'INVALID_PARAMETER_VALUE',
      `ChangedBlocksCount ${changedBlocksCount} does not match the ${rec.owned.size} blocks written`,
    );
  }
  if (checksum.checksum !== undefined) {
    if (checksum.algorithm !== 'SHA256' || checksum.aggregation !== 'LINEAR') {
      throw validationError(
        'INVALID_PARAMETER_VALUE',
        'a checksum needs ChecksumAlgorithm SHA256 and aggregation LINEAR',
      );
    }
    const digests = [...rec.owned].sort(([a], [b]) => a - b).map(([, location]) => location.sha256);
    if (sha256(Buffer.concat(digests)).toString('base64') !== checksum.checksum) {
      throw validationError('INVALID_PARAMETER_VALUE', 'the LINEAR checksum does not match the blocks written');
    }
  }
  await store.finish(rec);
  return 'completed';
}

async function writable(store: SnapshotStoreInternals, snapshotId: string): Promise<SnapshotRecord> {
  const rec = await store.record(snapshotId);
  await rec.ready;
  const expiresAt = Date.parse(rec.meta.startTime) + rec.meta.timeoutMinutes * 60_000;
  if (rec.meta.status === 'pending' && rec.writer && Date.now() > expiresAt) {
    // Like EBS: a snapshot not completed within its Timeout fails.
    await rec.writer.close();
    rec.writer = undefined;
    await store.update(rec, { status: 'error' });
  }
  if (rec.meta.status !== 'pending' || !rec.writer) {
    const why = rec.meta.status === 'pending' ? 'is being written by another process' : `is ${rec.meta.status}`;
    throw validationError('INVALID_SNAPSHOT_ID', `snapshot ${snapshotId} ${why}; only a pending snapshot takes writes`);
  }
  return rec;
}
