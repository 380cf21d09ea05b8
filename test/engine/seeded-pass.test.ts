import { randomBytes } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { Applier } from '../../core/engine/applier.js';
import { newReadCounters } from '../../core/engine/block-reader.js';
import { readJournal } from '../../core/engine/journal.js';
import { passPrefix, segmentKey, shardPlanKey } from '../../core/engine/layout.js';
import { type PassManifest, type PassPlan, ShardPlan } from '../../core/engine/manifest.js';
import { runPass } from '../../core/engine/pass.js';
import { planPass } from '../../core/engine/planner.js';
import { RateGovernor } from '../../core/engine/rate-governor.js';
import { hashSeed, publishSeed, readSeed, seedBaseId } from '../../core/engine/seed.js';
import { decodeSegment } from '../../core/engine/segment.js';
import { streamShard } from '../../core/engine/streamer.js';
import { InvalidInputError, PassOutOfOrderError, SeedTooSmallError } from '../../core/errors.js';
import { snapshotVolume } from '../../core/localcloud/local-volume.js';
import type { BlockTarget, Staging } from '../../core/ports.js';
import { startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { type Fill, makeVolume } from '../support/volumes.js';

/** 41 blocks, the last one partial: a size EBS would never have, as a local volume may. */
const SIZE = 40 * BLOCK_SIZE + 1234;
/** The seed disk is larger than the volume: what lies past the volume is not the pass's to touch. */
const SEED_SIZE = 48 * BLOCK_SIZE;

describe('seeded pass through the local cloud', () => {
  let test: TestCloud;
  let volumeCount = 0;
  beforeAll(async () => {
    test = await startTestCloud();
  });
  afterAll(() => test.stop());

  /**
   * A takeover volume and a seed that equals it except where the test says: the snapshot, the seed image, the seed
   * published to staging and read back.
   */
  async function scenario(changeSeed: (seed: Buffer) => void) {
    const name = `seeded-${++volumeCount}`;
    const volume = join(test.dir, `${name}.img`);
    const blocks: Record<number, Fill> = {};
    for (let i = 0; i < 41; i++) if (i % 6 !== 3) blocks[i] = i % 9 === 4 ? 'zero' : 'random'; // 3, 9, 15… never written
    blocks[7] = 'zero';
    await makeVolume(volume, SIZE, blocks);
    const snapshot = await snapshotVolume(test.cloud.store, volume);

    const seed = Buffer.alloc(SEED_SIZE);
    (await readFile(volume)).copy(seed);
    changeSeed(seed);
    const seedPath = join(test.dir, `${name}-seed.img`);
    await writeFile(seedPath, seed);
    const hashes = await hashSeed(seedPath, SEED_SIZE);
    const recordKey = `gw/volumes/${name}/seed.json`;
    await publishSeed(test.staging, recordKey, { volumeKey: name, seed: seedPath, seedSizeBytes: SEED_SIZE, hashes });
    const published = await readSeed(test.staging, recordKey);
    return { name, volume, snapshotId: snapshot.snapshotId, seedPath, seed, ...published };
  }

  function seededRequest(s: Awaited<ReturnType<typeof scenario>>) {
    return {
      volumeKey: s.name,
      passNumber: 1,
      kind: 'seeded' as const,
      snapshotId: s.snapshotId,
      baseSnapshotId: seedBaseId(s.record),
      seedHashes: s.hashes,
      seedName: s.record.seed,
      volumeSizeBytes: SIZE,
      segmentBlocks: 4,
      shardBlocks: 8,
    };
  }

  /** Applies pass 1 onto a copy of the seed image, its journal started at the seed. */
  async function applyOntoSeed(s: Awaited<ReturnType<typeof scenario>>, wrap?: (target: BlockTarget) => BlockTarget) {
    const targetPath = join(test.dir, `${s.name}-target.img`);
    await copyFile(s.seedPath, targetPath);
    const target = await openFileTarget(targetPath);
    try {
      const applier = await Applier.open({
        staging: test.staging,
        volumeKey: s.name,
        target: wrap ? wrap(target) : target,
        stateDir: join(test.dir, `${s.name}-state`),
        holdsSnapshotId: seedBaseId(s.record),
      });
      return { targetPath, report: await applier.applyPass(1) };
    } finally {
      await target.close();
    }
  }

  /** The block indices a staged pass carries, read from its segments. */
  async function carriedIndices(volumeKey: string, manifest: PassManifest): Promise<number[]> {
    const indices: number[] = [];
    for (const segment of manifest.segments) {
      const body = await test.staging.get(passPrefix(volumeKey, manifest.passNumber) + segment.key);
      indices.push(...decodeSegment(body).map((block) => block.blockIndex));
    }
    return indices;
  }

  async function expectIdentical(s: Awaited<ReturnType<typeof scenario>>, targetPath: string) {
    const target = await readFile(targetPath);
    const volume = await readFile(s.volume);
    expect(target.length).toBe(SEED_SIZE);
    expect(target.subarray(0, SIZE).equals(volume)).toBe(true);
    // Past the volume the target keeps the seed's bytes: a seeded pass never blanks.
    expect(target.subarray(SIZE).equals(s.seed.subarray(SIZE))).toBe(true);
  }

  it('carries exactly the blocks that differ from the seed and ends byte-identical', async () => {
    const s = await scenario((seed) => {
      randomBytes(BLOCK_SIZE).copy(seed, 5 * BLOCK_SIZE); // changed at home
      randomBytes(BLOCK_SIZE).copy(seed, 17 * BLOCK_SIZE); // changed
      randomBytes(BLOCK_SIZE).copy(seed, 7 * BLOCK_SIZE); // the snapshot has zeros here, the seed data
      randomBytes(BLOCK_SIZE).copy(seed, 9 * BLOCK_SIZE); // the snapshot lists nothing here, the seed has data
      randomBytes(SEED_SIZE - 41 * BLOCK_SIZE).copy(seed, 41 * BLOCK_SIZE); // past the volume
    });

    const stream = await runPass(seededRequest(s), { source: test.source, staging: test.staging });
    const { targetPath, report } = await applyOntoSeed(s);

    await expectIdentical(s, targetPath);
    const { manifest } = stream;
    expect(manifest).toMatchObject({
      kind: 'seeded',
      baseSnapshotId: seedBaseId(s.record),
      blocksCarried: 4,
      zeroBlocks: 2,
      seed: { blocksCompared: manifest.blocksListed, blocksDiffering: 4 },
    });
    expect(manifest.blocksListed).toBe(34); // 41 blocks less 3, 9, 15, 21, 27, 33, 39
    expect(await carriedIndices(s.name, manifest)).toEqual([5, 7, 9, 17]);
    // Two data blocks, the rest is metadata: segment headers, shard plans with their seed hashes, the manifest.
    expect(stream.bytesStaged).toBeGreaterThan(2 * BLOCK_SIZE);
    expect(stream.bytesStaged).toBeLessThan(2 * BLOCK_SIZE + 32 * 1024);
    expect(stream.counters.blocksRead).toBe(34);
    expect(report).toMatchObject({ applied: true, blocksWritten: 4 });
  });

  it('ends identical from an unrelated seed: every block differs', async () => {
    const s = await scenario((seed) => randomBytes(SEED_SIZE).copy(seed));

    const stream = await runPass(seededRequest(s), { source: test.source, staging: test.staging });
    const { targetPath } = await applyOntoSeed(s);

    await expectIdentical(s, targetPath);
    // Every listed block, and a zero entry for each of the 7 the snapshot lacks.
    expect(stream.manifest.seed).toEqual({ blocksCompared: 34, blocksDiffering: 41, name: s.seedPath });
  });

  it('is refused by an applier whose journal is not at the seed', async () => {
    const s = await scenario((seed) => randomBytes(BLOCK_SIZE).copy(seed, 2 * BLOCK_SIZE));
    await runPass(seededRequest(s), { source: test.source, staging: test.staging });
    const targetPath = join(test.dir, `${s.name}-fresh.img`);
    await copyFile(s.seedPath, targetPath);
    const target = await openFileTarget(targetPath);
    try {
      for (const [dir, holdsSnapshotId] of [
        ['none', undefined],
        ['other', 'seed:0000000000000000000000000000000000000000000000000000000000000000'],
      ] as const) {
        const applier = await Applier.open({
          staging: test.staging,
          volumeKey: s.name,
          target,
          stateDir: join(test.dir, `${s.name}-state-${dir}`),
          holdsSnapshotId,
        });
        await expect(applier.applyPass(1)).rejects.toThrow(PassOutOfOrderError);
        await expect(applier.applyPass(1)).rejects.toThrow(/seeded pass 1 starts from seed:/);
      }
    } finally {
      await target.close();
    }
    expect((await readFile(targetPath)).equals(s.seed)).toBe(true);
  });

  it('resumes an apply killed mid-pass from its journal and ends identical', async () => {
    const s = await scenario((seed) => {
      for (const index of [1, 5, 20, 30, 35]) randomBytes(BLOCK_SIZE).copy(seed, index * BLOCK_SIZE);
    });
    // One block a segment: a checkpoint every 16 segments falls between the differing blocks.
    await runPass({ ...seededRequest(s), segmentBlocks: 1 }, { source: test.source, staging: test.staging });
    let writes = 0;
    const dying = (target: BlockTarget): BlockTarget => ({
      path: target.path,
      sizeBytes: target.sizeBytes,
      read: (length, offset) => target.read(length, offset),
      sync: () => target.sync(),
      blank: (size) => target.blank(size),
      close: () => target.close(),
      write: async (data, offset) => {
        if (++writes === 4) throw new Error('killed'); // block 30: segments up to 16 are checkpointed
        return target.write(data, offset);
      },
    });

    await expect(applyOntoSeed(s, dying)).rejects.toThrow('killed');
    const journal = await readJournal(join(test.dir, `${s.name}-state`));
    expect(journal).toMatchObject({ lastAppliedPass: 0, snapshotId: seedBaseId(s.record) });
    expect(journal?.inProgress?.nextSegment).toBe(16);

    // The process comes back: the same state directory, the target as the dead one left it.
    const targetPath = join(test.dir, `${s.name}-target.img`);
    const target = await openFileTarget(targetPath);
    try {
      const applier = await Applier.open({
        staging: test.staging,
        volumeKey: s.name,
        target,
        stateDir: join(test.dir, `${s.name}-state`),
        holdsSnapshotId: seedBaseId(s.record),
      });
      expect(await applier.applyPass(1)).toMatchObject({ applied: true, resumed: true });
    } finally {
      await target.close();
    }
    await expectIdentical(s, targetPath);
  });

  it('streams a seeded shard again after an invocation cut off mid-shard, skipping what it staged', async () => {
    const s = await scenario((seed) => {
      for (const index of [0, 2, 4, 6]) randomBytes(BLOCK_SIZE).copy(seed, index * BLOCK_SIZE);
    });
    const plan: PassPlan = await planPass(test.source, test.staging, { ...seededRequest(s), segmentBlocks: 2 });
    const shardKey = passPrefix(s.name, 1) + shardPlanKey(0);
    const shard = ShardPlan.parse(JSON.parse((await test.staging.get(shardKey)).toString()));
    expect(Buffer.from(shard.seedSha256 ?? '', 'base64').length).toBe(shard.blocks.length * 32);
    const options = () => ({
      source: test.source,
      staging: test.staging,
      governor: new RateGovernor(),
      counters: newReadCounters(),
      readAheadBlocks: 2,
    });
    // The invocation dies while staging: its first segment lands, every later one fails.
    let firstStaged: () => void = () => undefined;
    const first = new Promise<void>((resolve) => {
      firstStaged = resolve;
    });
    const dying: Staging = Object.create(test.staging);
    dying.put = async (key, body, metadata, putOptions) => {
      if (key.endsWith(segmentKey(0, 0))) {
        await test.staging.put(key, body, metadata, putOptions);
        return firstStaged();
      }
      await first;
      throw new Error('killed');
    };

    await expect(streamShard(plan, 0, { ...options(), staging: dying })).rejects.toThrow('killed');
    const again = options();
    const whole = await streamShard(plan, 0, again);

    expect(whole.done).toBe(true);
    // The first segment (refs 0 and 1) was staged by the dead invocation: not read again.
    expect(again.counters.blocksRead).toBe(6);
    // Refs 0, 1, 2, 4, 5, 6, 7, 8 (block 3 neither listed nor held by the seed) in segments of two.
    expect(whole.segments.map((segment) => segment.entries)).toEqual([1, 2, 1, 0]);
    // Block 4 is zeros in the snapshot: a zero entry.
    expect(whole.segments.map((segment) => segment.dataBlocks)).toEqual([1, 1, 1, 0]);
  });

  it('refuses a seed whose hash list does not cover the volume, and a seeded request without one', async () => {
    const s = await scenario(() => undefined);
    const short = s.hashes.subarray(0, 40 * 32);
    await expect(
      runPass({ ...seededRequest(s), seedHashes: short }, { source: test.source, staging: test.staging }),
    ).rejects.toThrow(SeedTooSmallError);
    await expect(
      runPass({ ...seededRequest(s), seedHashes: undefined }, { source: test.source, staging: test.staging }),
    ).rejects.toThrow(InvalidInputError);
  });
});
