import { createCipheriv, createHash } from 'node:crypto';
import { z } from 'zod';
import { BLOCK_SIZE, blockCountFor } from '../../core/blocks.js';
import { WORKLOAD_WRITES_TAG } from '../../core/compute/local-compute.js';
import type { Host } from '../../core/compute/port.js';
import { PRESERVES_SEED_OF_TAG, SEED_VOLUME_TAG } from '../../core/failback/aws-seeds.js';
import { RUN_TAG, runLayout } from '../../core/failback/run-state.js';
import { PASS_TAG } from '../../core/failback/steps/snapshots.js';
import { imageSha256 } from '../../core/image-digest.js';
import { readVolume, writeVolumeBlocks } from '../../core/localcloud/local-volume.js';
import type { LocalRunEvent } from '../../core/orchestration/local-runner.js';
import { seededRandom } from '../../core/seeded-random.js';
import type { LocalFailback } from '../../core/wiring/local.js';
import type { DrillSeeding } from './drill-report.js';

/**
 * `drill --reuse-original`: the disks that survived at home. Before the run, each takeover host gets an "original
 * host" (running, so the request's `target.powerOffSeed` is exercised: PrepareTarget stops it and detaches its
 * volumes) whose volumes are copies of the takeover volumes as they are now (the failover moment: the workload is
 * paused for the copy), then `divergencePct` % of each original's blocks are overwritten with random data (what the
 * old site wrote after it lost contact). Each original volume is its takeover volume's seed. With `unrelated`, the
 * originals are random data instead of copies (a seed that saves nothing).
 *
 * What the drill itself made differ is known exactly: the blocks it overwrote at home, and the blocks the takeover
 * workload wrote between the copy and the first pass's snapshot (that snapshot's write count, a local-cloud tag).
 * `expectedDifferingBytes` is their union × 512 KiB; a seeded first pass should stage no more than that.
 */

export interface ReuseOriginalOptions {
  /** Share of each original's blocks overwritten with random data after the copy, in %. */
  readonly divergencePct: number;
  /** Random originals instead of copies. @default false */
  readonly unrelated?: boolean | undefined;
  /** The drill's seed: which blocks diverge and their data. */
  readonly seed: number;
}

/** A takeover volume's original: the seed volume, and the blocks the drill overwrote on it. */
export interface Original {
  readonly takeoverVolumeId: string;
  readonly originalVolumeId: string;
  readonly blockCount: number;
  readonly diverged: ReadonlySet<number>;
  /** SHA-256 of each block of the original as the run found it: what its preservation snapshot must hold. */
  readonly hashes: readonly Buffer[];
  /** SHA-256 (hex) of the whole original image as the run found it. */
  readonly sha256: string;
  readonly sizeBytes: number;
}

/** The drill's originals and what it needs to say, after the run, how much a seed should have saved. */
export class DrillOriginals {
  private firstSnapshot: Promise<Map<string, number>> | undefined;

  private constructor(
    private readonly env: LocalFailback,
    private readonly options: ReuseOriginalOptions,
    /** Per takeover host: its original host and volumes in device order. */
    readonly hosts: ReadonlyMap<string, { readonly originalHostId: string; readonly originals: readonly Original[] }>,
    /** Per takeover host: how many writes its workload had made when its volumes were copied. */
    private readonly writesAtCopy: ReadonlyMap<string, number>,
  ) {}

  /** Makes an original host per takeover host as the class comment says. */
  static async create(
    env: LocalFailback,
    takeoverHosts: readonly Host[],
    options: ReuseOriginalOptions,
  ): Promise<DrillOriginals> {
    const hosts = new Map<string, { originalHostId: string; originals: Original[] }>();
    const writesAtCopy = new Map<string, number>();
    const random = seededRandom(options.seed + 104_729);
    for (const takeover of takeoverHosts) {
      // The failover moment: no takeover write lands while the originals are copied.
      const pause = await env.compute.workloadOf(takeover.hostId)?.pause();
      try {
        writesAtCopy.set(takeover.hostId, pause?.writeCount ?? 0);
        let next = 0;
        const original = await env.compute.createTakeoverHost({
          name: `${takeover.tags.Name ?? takeover.hostId}-original`,
          // Tagged as an operator tags the disks a deployment may take over as seeds.
          volumes: takeover.volumes.map((volume) => ({ sizeBytes: volume.sizeBytes, tags: env.compute.seedOptIn })),
          tags: env.compute.seedOptIn,
          writesPerSecond: 0,
          fill: async (path) => {
            const source = takeover.volumes[next++];
            if (!source) return;
            if (options.unrelated) await fillRandom(path, source.sizeBytes, options.seed, source.volumeId);
            else await copyVolume(env.volumePath(source.volumeId), path, source.sizeBytes);
          },
        });
        const originals: Original[] = [];
        for (const [i, volume] of original.volumes.entries()) {
          const source = takeover.volumes[i];
          if (!source) continue;
          const path = env.volumePath(volume.volumeId);
          const blockCount = blockCountFor(volume.sizeBytes);
          const diverged = options.unrelated
            ? new Set(Array.from({ length: blockCount }, (_, index) => index))
            : await diverge(path, volume.sizeBytes, options, random, volume.volumeId);
          originals.push({
            takeoverVolumeId: source.volumeId,
            originalVolumeId: volume.volumeId,
            blockCount,
            diverged,
            hashes: await blockHashes(path, volume.sizeBytes),
            sha256: await imageSha256(path, volume.sizeBytes),
            sizeBytes: volume.sizeBytes,
          });
        }
        hosts.set(takeover.hostId, { originalHostId: original.hostId, originals });
      } finally {
        pause?.resume();
      }
    }
    return new DrillOriginals(env, options, hosts, writesAtCopy);
  }

  /** The drill's line about its originals. */
  describe(): string {
    const what = this.options.unrelated
      ? 'random data (--seed-unrelated)'
      : `copies at the failover, ${this.options.divergencePct}% of blocks written at home since`;
    const list = this.originals.map((original) => `${original.takeoverVolumeId} ← ${original.originalVolumeId}`);
    return `original disks as seeds (${what}): ${list.join(', ')}`;
  }

  /** Every original: its takeover volume and seed volume. */
  get originals(): readonly Original[] {
    return [...this.hosts.values()].flatMap((host) => host.originals);
  }

  /** The request's `hosts[i].failback.seed` of a takeover host: its originals in device order. */
  seedOf(takeoverHostId: string): { volumes: { volumeId: string }[] } | undefined {
    const host = this.hosts.get(takeoverHostId);
    return host && { volumes: host.originals.map((original) => ({ volumeId: original.originalVolumeId })) };
  }

  /** Watches the run for its first pass: the write count its snapshots hold (read while they still exist). */
  onEvent(event: LocalRunEvent, runId: string): void {
    this.firstSnapshot ??= watchFirstPass(this.env, event, runId);
  }

  /**
   * The report's `seeding`: what the drill made differ, the preservation snapshots (from the run's target state)
   * and whether each still holds its original as the run found it.
   */
  async seeding(preservedAs: ReadonlyMap<string, string>, warnings: readonly string[]): Promise<DrillSeeding> {
    const atSnapshot = (await this.firstSnapshot) ?? new Map<string, number>();
    let differing = 0;
    let intact = preservedAs.size > 0;
    const originals: NonNullable<DrillSeeding['originals']>[number][] = [];
    for (const [takeoverHostId, host] of this.hosts) {
      const writes = this.env.compute.workloadOf(takeoverHostId)?.writes ?? [];
      const from = this.writesAtCopy.get(takeoverHostId) ?? 0;
      for (const original of host.originals) {
        const until = atSnapshot.get(original.takeoverVolumeId) ?? writes.length;
        const blocks = new Set(original.diverged);
        for (const write of writes.slice(from, until)) {
          if (write.volumeId === original.takeoverVolumeId) blocks.add(write.blockIndex);
        }
        differing += blocks.size;
        const snapshotId = preservedAs.get(original.originalVolumeId);
        intact &&= snapshotId !== undefined && (await this.holds(snapshotId, original));
        originals.push({
          takeoverVolumeId: original.takeoverVolumeId,
          originalVolumeId: original.originalVolumeId,
          sizeBytes: original.sizeBytes,
          sha256: original.sha256,
          ...(snapshotId === undefined ? {} : { preservedAs: snapshotId }),
          blocksDiverged: original.diverged.size,
        });
      }
    }
    return {
      divergencePct: this.options.divergencePct,
      ...(this.options.unrelated ? { unrelated: true } : {}),
      expectedDifferingBytes: differing * BLOCK_SIZE,
      preservedAs: [...preservedAs.values()],
      preservedIntact: intact,
      originals,
      warnings: [...warnings],
    };
  }

  /** Whether the snapshot holds every block of the original as it was before the run. */
  private async holds(snapshotId: string, original: Original): Promise<boolean> {
    for (let index = 0; index < original.blockCount; index++) {
      const block = await this.env.cloud.store.readBlock(snapshotId, index);
      const expected = original.hashes[index];
      if (!expected?.equals(createHash('sha256').update(block).digest())) return false;
    }
    return true;
  }
}

/** Copies the written blocks of a volume image into another (holes stay holes). */
async function copyVolume(from: string, to: string, sizeBytes: number): Promise<void> {
  for (let index = 0; index < blockCountFor(sizeBytes); index++) {
    const length = Math.min(BLOCK_SIZE, sizeBytes - index * BLOCK_SIZE);
    const data = await readVolume(from, index * BLOCK_SIZE, length);
    if (data.some((byte) => byte !== 0)) await writeVolumeBlocks(to, index, data);
  }
}

/** Random data in every block: an unrelated disk. */
async function fillRandom(path: string, sizeBytes: number, seed: number, label: string): Promise<void> {
  for (let index = 0; index < blockCountFor(sizeBytes); index++) {
    await writeVolumeBlocks(path, index, randomBlock(seed, `${label}/unrelated`, index, sizeBytes));
  }
}

/** Overwrites `divergencePct` % of the blocks (at least one when above 0) with random data; returns their indexes. */
async function diverge(
  path: string,
  sizeBytes: number,
  options: ReuseOriginalOptions,
  random: () => number,
  label: string,
): Promise<Set<number>> {
  const blockCount = blockCountFor(sizeBytes);
  const wanted = options.divergencePct > 0 ? Math.max(1, Math.round((blockCount * options.divergencePct) / 100)) : 0;
  const chosen = new Set<number>();
  while (chosen.size < Math.min(wanted, blockCount)) chosen.add(Math.floor(random() * blockCount));
  for (const index of chosen) await writeVolumeBlocks(path, index, randomBlock(options.seed, label, index, sizeBytes));
  return chosen;
}

/** 512 KiB (or the volume's short last block) of random bytes, reproducible from the drill's seed. */
function randomBlock(seed: number, label: string, index: number, sizeBytes: number): Buffer {
  const key = createHash('sha256').update(`homebound drill original ${seed} ${label}`).digest();
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(index, 0);
  const length = Math.min(BLOCK_SIZE, sizeBytes - index * BLOCK_SIZE);
  return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(length));
}

/** SHA-256 of each block as EBS hashes it (a short last block zero-padded; a hole is a block of zeros). */
async function blockHashes(path: string, sizeBytes: number): Promise<Buffer[]> {
  const hashes: Buffer[] = [];
  for (let index = 0; index < blockCountFor(sizeBytes); index++) {
    const length = Math.min(BLOCK_SIZE, sizeBytes - index * BLOCK_SIZE);
    const block = Buffer.alloc(BLOCK_SIZE);
    (await readVolume(path, index * BLOCK_SIZE, length)).copy(block);
    hashes.push(createHash('sha256').update(block).digest());
  }
  return hashes;
}

/**
 * The report's `seeding` after the run: the preservation snapshots the run tagged for each original, and the
 * run report's warnings about its seeds.
 */
export async function seedingOf(env: LocalFailback, originals: DrillOriginals, runId: string): Promise<DrillSeeding> {
  const preservedAs = new Map<string, string>();
  for (const original of originals.originals) {
    const [snapshot] = await env.compute.findSnapshots({
      [RUN_TAG]: runId,
      [PRESERVES_SEED_OF_TAG]: original.takeoverVolumeId,
      [SEED_VOLUME_TAG]: original.originalVolumeId,
    });
    if (snapshot) preservedAs.set(original.originalVolumeId, snapshot.snapshotId);
  }
  return originals.seeding(preservedAs, await runWarnings(env, runId));
}

/** The warnings of the run report (none when the run never reached Report). */
async function runWarnings(env: LocalFailback, runId: string): Promise<string[]> {
  const body = await env.deps
    .staging(runLayout.record(runId))
    .get(runLayout.reportKey)
    .catch(() => undefined);
  if (!body) return [];
  const report = ReportWarnings.safeParse(JSON.parse(body.toString('utf8')));
  if (!report.success) return [];
  // The report gathers its passes' warnings; a report written before it did has them only per pass.
  return report.data.warnings ?? (report.data.passes ?? []).flatMap((pass) => pass.warnings ?? []);
}

const ReportWarnings = z.object({
  warnings: z.array(z.string()).optional(),
  passes: z.array(z.object({ warnings: z.array(z.string()).optional() })).optional(),
});

/**
 * Once a run's first StreamPass begins (`event`), the takeover workload's write count each pass-1 snapshot holds, by
 * takeover volume: writes after it are not the first pass's. Undefined for any other event. The snapshots are read at
 * once, while they still exist (clean-up deletes them).
 */
export function watchFirstPass(
  env: LocalFailback,
  event: LocalRunEvent,
  runId: string,
): Promise<Map<string, number>> | undefined {
  if (event.type !== 'StateEntered' || event.stateName !== 'StreamPass') return undefined;
  const counts = (async () => {
    const found = new Map<string, number>();
    for (const snapshot of await env.compute.findSnapshots({ [RUN_TAG]: runId, [PASS_TAG]: '1' })) {
      const info = await env.cloud.store.get(snapshot.snapshotId);
      const writes = Number(info.tags[WORKLOAD_WRITES_TAG]);
      if (Number.isFinite(writes)) found.set(snapshot.volumeId, writes);
    }
    return found;
  })();
  counts.catch(() => undefined);
  return counts;
}
