import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEbsClient, createS3Client } from '../../core/adapters/aws/clients.js';
import { EbsBlockSource } from '../../core/adapters/aws/ebs-block-source.js';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import { BLOCK_SIZE, blockCountFor } from '../../core/blocks.js';
import { Applier } from '../../core/engine/applier.js';
import { type PassReport, runPass } from '../../core/engine/pass.js';
import { imageSha256 } from '../../core/image-digest.js';
import type { EbsFaults } from '../../core/localcloud/ebs-faults.js';
import { createVolume, snapshotVolume, writeVolume } from '../../core/localcloud/local-volume.js';
import { SnapshotStore } from '../../core/localcloud/snapshot-store.js';
import { seededRandom } from '../../core/seeded-random.js';
import { localCloudFaultArgs } from '../options.js';
import { ageFile, settleDisk, settleHeap, timeRsyncDelta, timeSparseCopy } from './baselines.js';
import { cpuMsSince, perMiB, sha256CpuPerMiB } from './cpu.js';
import { startLocalCloudProcess } from './local-cloud-process.js';
import { assertDivergencePct, runSeededBench, type SeededFigures } from './seeded-pass.js';
import { type StageFigures, StageProfiler } from './stage-profile.js';
import { blockBytes, chooseContent, pickChangedBlocks, repeatedBlocks } from './volume-generator.js';

export interface BenchOptions {
  readonly sizeMiB: number;
  readonly changePct: number;
  readonly seed: number;
  /** Local EBS server realism: per-snapshot quota (req/s) and per-call latency. */
  readonly quota: number;
  readonly latencyMs: number;
  /** Faults the local EBS server injects besides (bench --ebs-throttle-rate …). @default none */
  readonly faults?: EbsFaults;
  /** Where the volumes, staging and store live; a temp dir (removed after) by default. */
  readonly workDir?: string | undefined;
  readonly keep?: boolean;
  /** Profile both passes and split their CPU by stage (the profiler costs CPU: the other figures then run high). */
  readonly profileStages?: boolean;
  /** With profileStages: also write the raw V8 profiles into this directory. */
  readonly profileDir?: string | undefined;
  readonly log?: (line: string) => void;
  /** When set, a seeded pass of the full pass's snapshot too, from a seed this % different (bench --divergence-pct). */
  readonly divergencePct?: number | undefined;
}

export interface PassFigures {
  readonly seconds: number;
  /** Plan, stream and seal the pass in staging (the applier downloads segments meanwhile, as they are staged). */
  readonly streamSeconds: number;
  /** From the seal to the pass durable on the target: the last downloads, verification, writes and fdatasync. */
  readonly applySeconds: number;
  readonly blocksChanged: number;
  readonly bytesChanged: number;
  readonly bytesRead: number;
  readonly bytesStaged: number;
  readonly bytesWritten: number;
  readonly blockCalls: number;
  readonly throttled: number;
  readonly mibPerSecond: number;
  /** CPU (user + system) of this process — the streamer and the applier; the local cloud runs in its own — over the
   * pass, in ms. */
  readonly engineCpuMs: number;
  /** engineCpuMs per MiB read from the source (bytesRead). */
  readonly engineCpuPerMiBMs: number;
  /** Only with profileStages: the pass's CPU by stage. */
  readonly stages?: StageFigures;
}

export interface BenchResult {
  readonly sizeMiB: number;
  readonly volumeBytes: number;
  readonly changePct: number;
  readonly seed: number;
  readonly localCloud: { readonly quotaPerSnapshot: number; readonly latencyMs: number; readonly faults?: EbsFaults };
  readonly full: PassFigures;
  readonly incremental: PassFigures;
  readonly baselines: { readonly cpSeconds: number; readonly rsyncSeconds: number };
  /** CPU node:crypto's SHA-256 takes in this process over as many bytes of the volume as the full pass read, ms per
   * MiB: the floor (every byte is hashed twice, on read and before it is written). */
  readonly sha256CpuPerMiBMs: number;
  readonly ratios: {
    readonly fullVsCp: number;
    readonly rsyncVsIncremental: number;
    /** full.engineCpuPerMiBMs / sha256CpuPerMiBMs (2 is the floor). */
    readonly engineCpuVsSha256: number;
  };
  readonly identical: boolean;
  readonly sourceSha256: string;
  readonly targetSha256: string;
  readonly peakRssMiB: number;
  /** The seeded pass beside the full one (with `divergencePct`); `identical` then covers its target too. */
  readonly seeded?: SeededFigures;
}

interface Endpoints {
  readonly source: EbsBlockSource;
  readonly staging: S3Staging;
}

const VOLUME_KEY = 'bench-vol';
const BUCKET = 'homebound-bench';

/**
 * One bench run, all on this machine: generate a volume, full pass through the local cloud and `cp`, change a share
 * of its blocks, incremental pass and `rsync`, then compare target and source by SHA-256. With `divergencePct`, a
 * seeded pass of the same snapshot between the full pass and the changes (cli/bench/seeded-pass.ts).
 * @throws InvalidInputError for a `divergencePct` outside (0, 100], before any work.
 */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const log = options.log ?? (() => undefined);
  if (options.divergencePct !== undefined) assertDivergencePct(options.divergencePct);
  const dir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'homebound-bench-')));
  const cloudDir = join(dir, 'cloud');
  const cloud = await startLocalCloudProcess(cloudDir, [
    '--bucket',
    BUCKET,
    '--quota',
    String(options.quota),
    '--latency-ms',
    String(options.latencyMs),
    ...localCloudFaultArgs(options.faults ?? {}),
  ]);
  // This process takes the snapshots (EC2's part); the local cloud's EBS server reads them from the same store.
  const store = await SnapshotStore.open(join(cloudDir, 'ebs'));
  // One client per service for the whole run, as a Lambda function keeps them at module scope.
  const endpoints: Endpoints = {
    source: new EbsBlockSource(createEbsClient(cloud.ebs)),
    staging: new S3Staging(createS3Client(cloud.s3), { bucket: BUCKET }),
  };
  try {
    const sizeBytes = options.sizeMiB * 1024 * 1024;
    const source = join(dir, 'source.img');
    const target = join(dir, 'target.img');
    const copy = join(dir, 'cp-copy.img');
    const random = seededRandom(options.seed);

    log(`generating a ${options.sizeMiB} MiB volume`);
    await generateVolume(source, sizeBytes, random);
    const first = await snapshotVolume(store, source);

    log('full pass');
    await settleDisk(dir);
    settleHeap();
    const full = await syncPass(
      endpoints,
      1,
      first.snapshotId,
      undefined,
      sizeBytes,
      target,
      dir,
      profiling(options, 'full'),
    );
    log('cp --sparse=always');
    await settleDisk(dir);
    const cpSeconds = await timeSparseCopy(source, copy);
    // The copy is the old image: make it look old, or rsync's quick check (size + mtime) could skip the file.
    await ageFile(copy);
    const seeded =
      options.divergencePct === undefined
        ? undefined
        : await runSeededBench({
            ...endpoints,
            volumePath: source,
            snapshotId: first.snapshotId,
            sizeBytes,
            divergencePct: options.divergencePct,
            seed: options.seed,
            fullBytesStaged: full.bytesStaged,
            dir,
            log,
          });

    const changed = pickChangedBlocks(sizeBytes, options.changePct / 100, random);
    log(`changing ${changed.length} blocks`);
    await changeBlocks(source, sizeBytes, changed, random);
    const second = await snapshotVolume(store, source, { parentSnapshotId: first.snapshotId });

    log('incremental pass');
    await settleDisk(dir);
    settleHeap();
    const incremental = await syncPass(
      endpoints,
      2,
      second.snapshotId,
      first.snapshotId,
      sizeBytes,
      target,
      dir,
      profiling(options, 'incremental'),
    );
    log('rsync --inplace --no-whole-file');
    await settleDisk(dir);
    const rsyncSeconds = await timeRsyncDelta(source, copy);

    log('SHA-256 of the bytes the full pass read');
    const sha256CpuPerMiBMs = await sha256CpuPerMiB(source, full.bytesRead);
    const [sourceSha256, targetSha256] = await Promise.all([imageSha256(source), imageSha256(target)]);
    return {
      sizeMiB: options.sizeMiB,
      volumeBytes: sizeBytes,
      changePct: options.changePct,
      seed: options.seed,
      localCloud: { quotaPerSnapshot: options.quota, latencyMs: options.latencyMs, faults: options.faults ?? {} },
      full,
      incremental,
      baselines: { cpSeconds, rsyncSeconds },
      sha256CpuPerMiBMs,
      ratios: {
        fullVsCp: full.seconds / cpSeconds,
        rsyncVsIncremental: rsyncSeconds / incremental.seconds,
        engineCpuVsSha256: full.engineCpuPerMiBMs / sha256CpuPerMiBMs,
      },
      identical: sourceSha256 === targetSha256 && (seeded?.identical ?? true),
      sourceSha256,
      targetSha256,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      ...(seeded ? { seeded } : {}),
    };
  } finally {
    await store.close();
    await cloud.stop();
    if (!options.keep && !options.workDir) await rm(dir, { recursive: true, force: true });
  }
}

async function generateVolume(path: string, sizeBytes: number, random: () => number): Promise<void> {
  await createVolume(path, sizeBytes);
  const library = repeatedBlocks();
  for (let index = 0; index < blockCountFor(sizeBytes); index++) {
    const bytes = blockBytes(chooseContent(random), index, sizeBytes, library, random);
    if (bytes) await writeVolume(path, index * BLOCK_SIZE, bytes);
  }
}

/** Rewrites the chosen blocks: most with new random data, one in ten with zeros (a block that became zero). */
async function changeBlocks(
  path: string,
  sizeBytes: number,
  blocks: readonly number[],
  random: () => number,
): Promise<void> {
  const library = repeatedBlocks();
  for (const index of blocks) {
    const kind = random() < 0.1 ? 'zero' : 'random';
    const bytes = blockBytes(kind, index, sizeBytes, library, random);
    if (bytes) await writeVolume(path, index * BLOCK_SIZE, bytes);
  }
}

interface Profiling {
  readonly profiler: StageProfiler;
  readonly saveAs?: string | undefined;
}

function profiling(options: BenchOptions, pass: string): Profiling | undefined {
  if (!options.profileStages) return undefined;
  return { profiler: new StageProfiler(), saveAs: options.profileDir && join(options.profileDir, pass) };
}

async function syncPass(
  { source, staging }: Endpoints,
  passNumber: number,
  snapshotId: string,
  baseSnapshotId: string | undefined,
  sizeBytes: number,
  targetPath: string,
  dir: string,
  profiling?: Profiling,
): Promise<PassFigures> {
  await profiling?.profiler.start();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const target = await openFileTarget(targetPath, { createWithSize: sizeBytes });
  let blocksWritten: number;
  let report: PassReport;
  let streamed: number;
  try {
    const applier = await Applier.open({
      staging,
      volumeKey: VOLUME_KEY,
      target,
      stateDir: join(dir, 'applier-state'),
    });
    report = await runPass(
      {
        volumeKey: VOLUME_KEY,
        passNumber,
        kind: baseSnapshotId ? 'incremental' : 'full',
        snapshotId,
        baseSnapshotId,
        volumeSizeBytes: sizeBytes,
      },
      // The applier downloads each segment once it is staged, as a gateway following the pass does.
      { source, staging, onSegment: (segment) => applier.prefetch(passNumber, segment) },
    );
    streamed = performance.now();
    await profiling?.profiler.applying();
    blocksWritten = (await applier.applyPass(passNumber)).blocksWritten;
  } finally {
    await target.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const engineCpuMs = cpuMsSince(cpuBefore);
  const stages = await profiling?.profiler.stop(report.counters.bytesRead, profiling.saveAs);
  const blocksChanged = report.manifest.blocksListed;
  return {
    seconds,
    streamSeconds: (streamed - started) / 1000,
    applySeconds: (performance.now() - streamed) / 1000,
    blocksChanged,
    bytesChanged: blocksChanged * BLOCK_SIZE,
    bytesRead: report.counters.bytesRead,
    bytesStaged: report.bytesStaged,
    bytesWritten: blocksWritten * BLOCK_SIZE,
    blockCalls: report.blockCalls,
    throttled: report.counters.throttled,
    mibPerSecond: (blocksChanged * BLOCK_SIZE) / 1024 / 1024 / seconds,
    engineCpuMs,
    engineCpuPerMiBMs: perMiB(engineCpuMs, report.counters.bytesRead),
    ...(stages ? { stages } : {}),
  };
}
