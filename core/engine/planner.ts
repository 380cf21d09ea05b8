import { BLOCK_SIZE, blockCountFor } from '../blocks.js';
import { InvalidInputError, RequestRejectedError, SeedTooSmallError } from '../errors.js';
import type { BlockPage, BlockSource, Staging } from '../ports.js';
import { PLAN_KEY, passPrefix, shardPlanKey } from './layout.js';
import { PassKind, PassPlan, PLAN_FORMAT, type ShardPlan, type ShardSummary } from './manifest.js';
import { type RetryPolicy, withRetries } from './retry.js';
import { SEED_HASH_BYTES, seedHashAt, ZERO_BLOCK_HASH } from './seed.js';

export interface PlanPassRequest {
  readonly volumeKey: string;
  readonly passNumber: number;
  readonly kind: PassKind;
  /** The snapshot this pass brings the target to. */
  readonly snapshotId: string;
  /** For an incremental pass: the snapshot the previous pass brought the target to. For a seeded pass: the seed's
   * `seedBaseId(record)`, what the applier's journal starts at. */
  readonly baseSnapshotId?: string | undefined;
  /** For a seeded pass: the seed's hash list (core/engine/seed.ts), 32 bytes a block, covering the whole volume. */
  readonly seedHashes?: Buffer | undefined;
  /** For a seeded pass: what was hashed (the seed record's `seed`), for messages and reports. @default baseSnapshotId */
  readonly seedName?: string | undefined;
  /** Exact source size in bytes when known (a local volume); @default the size the service reports (whole GiB). */
  readonly volumeSizeBytes?: number | undefined;
  /** Block refs per shard, the unit streamed in parallel and resumed. @default 1024 (512 MiB) */
  readonly shardBlocks?: number;
  /** Blocks per delta segment. @default 16 (8 MiB) */
  readonly segmentBlocks?: number;
  /** MaxResults per List call (100–10,000). @default 10000 */
  readonly pageSize?: number;
  /** Retries of List calls that fail transiently or are throttled. */
  readonly retry?: RetryPolicy;
}

/** A listed pass: its plan, the shards kept in memory for the caller, and the promise of it being staged. */
export interface ListedPass {
  readonly plan: PassPlan;
  /** Shards whose refs the caller may use without reading them back from staging. */
  readonly shards: ReadonlyMap<number, ShardPlan>;
  /** Resolves once every shard plan and plan.json are staged (plan.json last); rejects when a put fails. */
  readonly staged: Promise<void>;
}

export interface ListPassOptions {
  /** Keep the first shards in memory while they hold at most this many refs in all; their puts (and plan.json)
   * then run in the background, so the caller can start streaming at once. @default 0 */
  readonly keepBlocks?: number;
}

/**
 * Plans a pass: lists every block of the snapshot (full) or every block changed since the base snapshot
 * (incremental), paging until NextToken is absent — pages may be short or empty — and writes the block refs to
 * staging as shards plus plan.json. The payload that returns is small; the block lists live in staging.
 * A seeded pass lists the snapshot as a full pass does, adds a ref without a token (it reads as zeros) for every block
 * the seed holds (its hash is not that of zeros) but the snapshot does not list, and gives each shard the seed's
 * hash of each of its refs, for the streamer to compare.
 * @throws InvalidInputError for a bad request; SeedTooSmallError when the seed's hash list does not cover the volume;
 *   the block source's errors (SnapshotNotFoundError, UnrelatedSnapshotsError, …) as they come.
 */
export async function planPass(source: BlockSource, staging: Staging, request: PlanPassRequest): Promise<PassPlan> {
  const listed = await listPass(source, staging, request);
  await listed.staged;
  return listed.plan;
}

/**
 * Lists a pass as `planPass` does, but may keep small shards in memory and stage them (and plan.json) in the
 * background: a caller that streams the pass itself saves the round trips of writing and reading them back.
 * Shards beyond `keepBlocks` are staged while listing goes on, so memory stays bounded for any volume.
 * @throws as `planPass`; staging errors reject `staged`.
 */
export async function listPass(
  source: BlockSource,
  staging: Staging,
  request: PlanPassRequest,
  options: ListPassOptions = {},
): Promise<ListedPass> {
  const shardBlocks = request.shardBlocks ?? 1024;
  const segmentBlocks = request.segmentBlocks ?? 16;
  const pageSize = request.pageSize ?? 10_000;
  validate(request, shardBlocks, segmentBlocks, pageSize);
  const prefix = passPrefix(request.volumeKey, request.passNumber);

  const shards: ShardSummary[] = [];
  const kept = new Map<number, ShardPlan>();
  let keepBudget = options.keepBlocks ?? 0;
  let pending: [number, string | null][] = [];
  const seedHashes = request.kind === 'seeded' ? request.seedHashes : undefined;
  let pendingSeed: Buffer[] = [];
  /** The first block index not yet looked at for a seed-only block. */
  let seedScan = 0;
  let seedOnlyBlocks = 0;
  let volumeSizeBytes = request.volumeSizeBytes;
  let lastIndex = -1;
  let listCalls = 0;
  let blocksListed = 0;
  let nextToken: string | undefined;

  const flushShard = async () => {
    if (pending.length === 0) return;
    const shardId = shards.length;
    const first = pending[0]?.[0] ?? 0;
    const last = pending[pending.length - 1]?.[0] ?? 0;
    const shardPlan: ShardPlan = {
      shardId,
      blocks: pending,
      ...(seedHashes ? { seedSha256: Buffer.concat(pendingSeed).toString('base64') } : {}),
    };
    shards.push({ shardId, firstIndex: first, lastIndex: last, blocks: pending.length });
    pending = [];
    pendingSeed = [];
    if (kept.size === shardId && shardPlan.blocks.length <= keepBudget) {
      keepBudget -= shardPlan.blocks.length;
      kept.set(shardId, shardPlan);
    } else {
      await staging.put(prefix + shardPlanKey(shardId), Buffer.from(JSON.stringify(shardPlan)));
    }
  };

  const push = async (index: number, token: string | null) => {
    pending.push([index, token]);
    if (seedHashes) pendingSeed.push(seedHashAt(seedHashes, index));
    if (pending.length >= shardBlocks) await flushShard();
  };
  /** Plans a zero entry for every block below `end` the seed holds and the snapshot does not list. */
  const addSeedOnlyBelow = async (end: number) => {
    if (!seedHashes) return;
    for (; seedScan < end; seedScan++) {
      if (seedHashAt(seedHashes, seedScan).equals(ZERO_BLOCK_HASH)) continue;
      seedOnlyBlocks += 1;
      await push(seedScan, null);
    }
  };

  do {
    const page: BlockPage = await withRetries(
      () =>
        request.kind !== 'incremental'
          ? source.listSnapshotBlocks(request.snapshotId, { maxResults: pageSize, nextToken })
          : source.listChangedBlocks(request.baseSnapshotId ?? '', request.snapshotId, {
              maxResults: pageSize,
              nextToken,
            }),
      request.retry,
    );
    listCalls += 1;
    if (volumeSizeBytes === undefined) volumeSizeBytes = page.volumeSizeBytes;
    if (volumeSizeBytes > page.volumeSizeBytes) {
      throw new InvalidInputError(
        `volume size ${volumeSizeBytes} bytes exceeds the ${page.volumeSizeBytes} bytes snapshot ${request.snapshotId} holds`,
      );
    }
    if (page.blockSize !== BLOCK_SIZE) {
      throw new RequestRejectedError(
        `snapshot ${request.snapshotId} reports block size ${page.blockSize}, not 512 KiB`,
      );
    }
    const blockLimit = blockCountFor(volumeSizeBytes);
    if (seedHashes && seedHashes.length / SEED_HASH_BYTES < blockLimit) {
      throw new SeedTooSmallError(
        request.seedName ?? request.baseSnapshotId ?? 'seed',
        (seedHashes.length / SEED_HASH_BYTES) * BLOCK_SIZE,
        volumeSizeBytes,
      );
    }
    for (const block of page.blocks) {
      if (block.index <= lastIndex || block.index >= blockLimit) {
        throw new RequestRejectedError(
          `listing of ${request.snapshotId} returned block ${block.index} out of order or beyond the volume`,
        );
      }
      lastIndex = block.index;
      await addSeedOnlyBelow(block.index);
      seedScan = block.index + 1;
      blocksListed += 1;
      await push(block.index, block.token ?? null);
    }
    nextToken = page.nextToken ?? undefined;
  } while (nextToken);
  // Seed blocks past the volume's last block stay as they are: the target's bytes past the volume are not its.
  await addSeedOnlyBelow(blockCountFor(volumeSizeBytes ?? 0));
  await flushShard();

  const plan: PassPlan = PassPlan.parse({
    format: PLAN_FORMAT,
    volumeKey: request.volumeKey,
    passNumber: request.passNumber,
    kind: request.kind,
    snapshotId: request.snapshotId,
    baseSnapshotId: request.baseSnapshotId,
    volumeSizeBytes,
    blocksListed,
    ...(seedHashes ? { seedOnlyBlocks, seedName: request.seedName ?? request.baseSnapshotId } : {}),
    segmentBlocks,
    shards,
    listCalls,
    createdAt: new Date().toISOString(),
  });
  // plan.json goes last: its presence tells a reader that every shard plan is staged.
  const staged = (async () => {
    await Promise.all(
      [...kept.values()].map((shard) =>
        staging.put(prefix + shardPlanKey(shard.shardId), Buffer.from(JSON.stringify(shard))),
      ),
    );
    await staging.put(prefix + PLAN_KEY, Buffer.from(JSON.stringify(plan)));
  })();
  return { plan, shards: kept, staged };
}

function validate(request: PlanPassRequest, shardBlocks: number, segmentBlocks: number, pageSize: number): void {
  if (!PassKind.safeParse(request.kind).success) throw new InvalidInputError(`unknown pass kind "${request.kind}"`);
  if (request.kind === 'incremental' && !request.baseSnapshotId) {
    throw new InvalidInputError("an incremental pass needs baseSnapshotId (the previous pass's snapshot)");
  }
  if (request.kind === 'full' && request.baseSnapshotId) {
    throw new InvalidInputError('a full pass takes no baseSnapshotId');
  }
  if (request.kind === 'seeded') {
    if (!request.baseSnapshotId) {
      throw new InvalidInputError('a seeded pass needs baseSnapshotId (seedBaseId of its seed record)');
    }
    const hashes = request.seedHashes;
    if (!hashes || hashes.length === 0 || hashes.length % SEED_HASH_BYTES !== 0) {
      throw new InvalidInputError(
        `a seeded pass needs seedHashes, 32 bytes per block of the seed; got ${hashes ? `${hashes.length} bytes` : 'none'}`,
      );
    }
  } else if (request.seedHashes) {
    throw new InvalidInputError(`a ${request.kind} pass takes no seedHashes`);
  }
  if (!Number.isInteger(request.passNumber) || request.passNumber < 1) {
    throw new InvalidInputError(`passNumber must be a positive integer, got ${request.passNumber}`);
  }
  if (
    request.volumeSizeBytes !== undefined &&
    !(Number.isInteger(request.volumeSizeBytes) && request.volumeSizeBytes > 0)
  ) {
    throw new InvalidInputError(`volumeSizeBytes must be a positive integer, got ${request.volumeSizeBytes}`);
  }
  if (!(Number.isInteger(pageSize) && pageSize >= 100 && pageSize <= 10_000)) {
    throw new InvalidInputError(`pageSize must be 100–10,000 (the EBS MaxResults range), got ${pageSize}`);
  }
  if (!(Number.isInteger(segmentBlocks) && segmentBlocks >= 1 && segmentBlocks <= 256)) {
    throw new InvalidInputError(`segmentBlocks must be 1–256, got ${segmentBlocks}`);
  }
  if (!(Number.isInteger(shardBlocks) && shardBlocks >= segmentBlocks)) {
    throw new InvalidInputError(
      `shardBlocks must be a whole number ≥ segmentBlocks (${segmentBlocks}), got ${shardBlocks}`,
    );
  }
}
