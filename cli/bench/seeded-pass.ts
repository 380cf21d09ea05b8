import { join } from 'node:path';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { Applier } from '../../core/engine/applier.js';
import { type PassReport, runPass } from '../../core/engine/pass.js';
import { hashSeed, publishSeed, readSeed, seedBaseId } from '../../core/engine/seed.js';
import { InvalidInputError } from '../../core/errors.js';
import { imageSha256 } from '../../core/image-digest.js';
import type { BlockSource, Staging } from '../../core/ports.js';
import { seededRandom } from '../../core/seeded-random.js';
import { settleDisk, settleHeap, timeCommand } from './baselines.js';
import { makeSeedImage } from './seed-image.js';

/** What the bench measures of a seeded first pass, beside the full pass of the same snapshot. */
export interface SeededFigures {
  readonly divergencePct: number;
  /** Blocks the bench made differ between the seed and the volume: what the pass ought to carry. */
  readonly blocksMadeDiffering: number;
  /** Of those, data blocks the seed holds as zeros, and zero blocks (or holes) the seed holds data in. */
  readonly blocksMadeZero: number;
  readonly blocksMadeDataWhereZero: number;
  /** Listed blocks of the snapshot read and compared with the seed's hashes. */
  readonly blocksCompared: number;
  /** Blocks the pass carried, data or zero. */
  readonly blocksDiffering: number;
  readonly bytesRead: number;
  readonly bytesStaged: number;
  readonly bytesWritten: number;
  /** Plan, stream, seal and apply, as the full pass's `seconds` (hashing the seed is apart: `hashSeconds`). */
  readonly seconds: number;
  readonly streamSeconds: number;
  readonly applySeconds: number;
  readonly throttled: number;
  /** The target side's cost: hashing the whole seed image once, read from disk (its page cache dropped first). */
  readonly hashSeconds: number;
  readonly hashMiBps: number;
  /** Size of the published hash list (32 bytes a block). */
  readonly hashListBytes: number;
  /** Bytes staged by the seeded pass / by the full pass: what crosses the wire home, in proportion. */
  readonly stagedVsFull: number;
  readonly identical: boolean;
  readonly sourceSha256: string;
  readonly targetSha256: string;
}

export interface SeededBenchInput {
  readonly source: BlockSource;
  readonly staging: Staging;
  /** The volume image as the snapshot holds it, and the snapshot. */
  readonly volumePath: string;
  readonly snapshotId: string;
  readonly sizeBytes: number;
  readonly divergencePct: number;
  /** Seeds the choice of differing blocks (the random stream of the rest of the bench is left as it was). */
  readonly seed: number;
  /** What the full pass of the same snapshot staged. */
  readonly fullBytesStaged: number;
  readonly dir: string;
  readonly log: (line: string) => void;
}

/** Its own volume key, so its pass never meets the full pass's in staging or in the applier's state. */
const SEEDED_VOLUME_KEY = 'bench-vol-seeded';

/** @throws InvalidInputError when the share is not a number in (0, 100]. */
export function assertDivergencePct(divergencePct: number): void {
  if (!(Number.isFinite(divergencePct) && divergencePct > 0 && divergencePct <= 100)) {
    throw new InvalidInputError(`divergencePct must be a number above 0 and at most 100, got ${divergencePct}`);
  }
}

/**
 * A seeded first pass of the snapshot the full pass just brought home: makes a seed image that differs from the volume
 * in `divergencePct` % of its blocks, hashes it as the target side would (timed), publishes the hash list to staging,
 * streams a `seeded` pass against it and applies it onto a copy of the seed image (timed as the full pass is), then
 * compares that copy with the volume by SHA-256.
 */
export async function runSeededBench(input: SeededBenchInput): Promise<SeededFigures> {
  assertDivergencePct(input.divergencePct);
  const { staging, sizeBytes, dir } = input;
  const seedPath = join(dir, 'seed.img');
  const targetPath = join(dir, 'seeded-target.img');

  input.log(`making a seed image ${input.divergencePct}% different from the volume`);
  // A random stream of its own: the rest of the bench (the blocks the incremental pass changes) stays as it is
  // with or without --divergence-pct.
  const made = await makeSeedImage(
    input.volumePath,
    seedPath,
    sizeBytes,
    input.divergencePct,
    seededRandom(input.seed + 0x5eed),
  );
  // In a failback the seed disk itself becomes the target; here a copy of it does, and the image stays as the
  // preserved pre-failback state.
  await timeCommand('cp', ['--sparse=always', seedPath, targetPath]);

  input.log('hashing the seed image');
  await settleDisk(dir);
  await dropPageCache(seedPath);
  const hashStarted = performance.now();
  const hashes = await hashSeed(seedPath, sizeBytes);
  const hashSeconds = (performance.now() - hashStarted) / 1000;
  const recordKey = `bench/volumes/${SEEDED_VOLUME_KEY}/seed.json`;
  await publishSeed(staging, recordKey, {
    volumeKey: SEEDED_VOLUME_KEY,
    seed: seedPath,
    seedSizeBytes: sizeBytes,
    hashes,
  });

  input.log('seeded pass');
  await settleDisk(dir);
  settleHeap();
  const started = performance.now();
  // As StreamPass does: the streamer side reads the published seed back (digest checked) before planning.
  const published = await readSeed(staging, recordKey);
  const target = await openFileTarget(targetPath);
  let report: PassReport;
  let streamed: number;
  let blocksWritten: number;
  try {
    const applier = await Applier.open({
      staging,
      volumeKey: SEEDED_VOLUME_KEY,
      target,
      stateDir: join(dir, 'applier-state-seeded'),
      holdsSnapshotId: seedBaseId(published.record),
    });
    report = await runPass(
      {
        volumeKey: SEEDED_VOLUME_KEY,
        passNumber: 1,
        kind: 'seeded',
        snapshotId: input.snapshotId,
        baseSnapshotId: seedBaseId(published.record),
        seedHashes: published.hashes,
        seedName: published.record.seed,
        volumeSizeBytes: sizeBytes,
      },
      { source: input.source, staging, onSegment: (segment) => applier.prefetch(1, segment) },
    );
    streamed = performance.now();
    blocksWritten = (await applier.applyPass(1)).blocksWritten;
  } finally {
    await target.close();
  }
  const finished = performance.now();

  const [sourceSha256, targetSha256] = await Promise.all([imageSha256(input.volumePath), imageSha256(targetPath)]);
  const seed = report.manifest.seed;
  return {
    divergencePct: input.divergencePct,
    blocksMadeDiffering: made.differing.length,
    blocksMadeZero: made.zeroed,
    blocksMadeDataWhereZero: made.writtenWhereZero,
    blocksCompared: seed?.blocksCompared ?? 0,
    blocksDiffering: seed?.blocksDiffering ?? 0,
    bytesRead: report.counters.bytesRead,
    bytesStaged: report.bytesStaged,
    bytesWritten: blocksWritten * BLOCK_SIZE,
    seconds: (finished - started) / 1000,
    streamSeconds: (streamed - started) / 1000,
    applySeconds: (finished - streamed) / 1000,
    throttled: report.counters.throttled,
    hashSeconds,
    hashMiBps: sizeBytes / 1024 / 1024 / hashSeconds,
    hashListBytes: hashes.length,
    stagedVsFull: report.bytesStaged / input.fullBytesStaged,
    identical: sourceSha256 === targetSha256,
    sourceSha256,
    targetSha256,
  };
}

/**
 * Drops the file's pages from the page cache (GNU dd's `nocache`; the pages are clean after `sync`), so hashing reads
 * the seed from disk as a gateway or agent reads a disk it has just attached — not the copy the bench just wrote.
 */
function dropPageCache(path: string): Promise<number> {
  return timeCommand('dd', [`if=${path}`, 'iflag=nocache', 'count=0']);
}
