import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { Applier } from '../../core/engine/applier.js';
import { passPrefix } from '../../core/engine/layout.js';
import type { SegmentRecord } from '../../core/engine/manifest.js';
import { runPass } from '../../core/engine/pass.js';
import { CorruptSegmentError, PassOutOfOrderError, TargetTooSmallError } from '../../core/errors.js';
import { MemoryBlockSource } from '../support/memory-block-source.js';
import { MemoryStaging } from '../support/memory-staging.js';

const SIZE = 10 * BLOCK_SIZE + 1234; // deliberately not a multiple of 512 KiB

function image(blocks: Map<number, Buffer>): Buffer {
  const out = Buffer.alloc(SIZE);
  for (const [index, data] of blocks)
    data.copy(out, index * BLOCK_SIZE, 0, Math.min(BLOCK_SIZE, SIZE - index * BLOCK_SIZE));
  return out;
}

function lastBlock(): Buffer {
  const data = Buffer.alloc(BLOCK_SIZE);
  randomBytes(1234).copy(data);
  return data;
}

describe('applier', () => {
  let dir: string;
  let source: MemoryBlockSource;
  let staging: MemoryStaging;
  const v1 = new Map<number, Buffer>([
    [0, randomBytes(BLOCK_SIZE)],
    [2, Buffer.alloc(BLOCK_SIZE)],
    [4, randomBytes(BLOCK_SIZE)],
    [10, lastBlock()],
  ]);
  const v2 = new Map(v1).set(4, Buffer.alloc(BLOCK_SIZE)).set(5, randomBytes(BLOCK_SIZE));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hb-applier-'));
    source = new MemoryBlockSource();
    source.add('snap-1', 'vol-a', SIZE, v1);
    source.add('snap-2', 'vol-a', SIZE, v2);
    staging = new MemoryStaging();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function stage(
    passNumber: number,
    snapshotId: string,
    baseSnapshotId?: string,
    onSegment?: (record: SegmentRecord) => void,
  ) {
    return runPass(
      {
        volumeKey: 'vol-a',
        passNumber,
        kind: baseSnapshotId ? 'incremental' : 'full',
        snapshotId,
        baseSnapshotId,
        volumeSizeBytes: SIZE,
        segmentBlocks: 2,
        shardBlocks: 4,
      },
      { source, staging, ...(onSegment ? { onSegment } : {}) },
    );
  }

  /** Counts GETs of segment objects. */
  function countSegmentGets(): Map<string, number> {
    const gets = new Map<string, number>();
    const get = staging.get.bind(staging);
    staging.get = (key) => {
      if (key.includes('/segments/')) gets.set(key, (gets.get(key) ?? 0) + 1);
      return get(key);
    };
    return gets;
  }

  async function applier(targetPath: string, createWithSize = SIZE) {
    const target = await openFileTarget(targetPath, { createWithSize });
    return {
      target,
      applier: await Applier.open({ staging, volumeKey: 'vol-a', target, stateDir: join(dir, 'state') }),
    };
  }

  it('applies a full pass then an incremental one, ending byte-identical, with a block that became zero', async () => {
    const full = await stage(1, 'snap-1');
    await stage(2, 'snap-2', 'snap-1');
    const { target, applier: a } = await applier(join(dir, 'target.img'));

    const reports = await a.applyAvailable();
    await target.close();

    expect(full.manifest.zeroBlocksSkipped).toBe(1);
    expect(reports.map((r) => r.passNumber)).toEqual([1, 2]);
    expect((await readFile(join(dir, 'target.img'))).equals(image(v2))).toBe(true);
    expect(await staging.head(`${passPrefix('vol-a', 2)}ack.json`)).toBeDefined();
  });

  it('refuses an incremental pass whose base is not what the target holds', async () => {
    await stage(1, 'snap-2');
    await stage(2, 'snap-2', 'snap-1');
    const { target, applier: a } = await applier(join(dir, 'target.img'));
    await a.applyPass(1);
    await expect(a.applyPass(2)).rejects.toThrow(PassOutOfOrderError);
    await target.close();
  });

  it('applies an incremental first pass onto a kept target that holds its base (holdsSnapshotId), only then', async () => {
    // A target kept by a rolled-back run: it holds snap-1, and a new run's pass 1 is incremental from it.
    await writeFile(join(dir, 'kept.img'), image(v1));
    await stage(1, 'snap-2', 'snap-1');
    const kept = await openFileTarget(join(dir, 'kept.img'));
    const a = await Applier.open({
      staging,
      volumeKey: 'vol-a',
      target: kept,
      stateDir: join(dir, 'kept-state'),
      holdsSnapshotId: 'snap-1',
    });
    await a.applyPass(1);
    await kept.close();
    expect((await readFile(join(dir, 'kept.img'))).equals(image(v2))).toBe(true);

    // Without it (a new journal knows of nothing), the same pass is refused and nothing is written.
    await writeFile(join(dir, 'unproven.img'), image(v1));
    const unproven = await openFileTarget(join(dir, 'unproven.img'));
    const b = await Applier.open({ staging, volumeKey: 'vol-a', target: unproven, stateDir: join(dir, 'fresh-state') });
    await expect(b.applyPass(1)).rejects.toThrow(/a full pass comes first/);
    await unproven.close();
    expect((await readFile(join(dir, 'unproven.img'))).equals(image(v1))).toBe(true);
  });

  it('refuses pass 2 before pass 1', async () => {
    await stage(1, 'snap-1');
    await stage(2, 'snap-2', 'snap-1');
    const { target, applier: a } = await applier(join(dir, 'target.img'));
    await expect(a.applyPass(2)).rejects.toThrow(/target is at pass 0/);
    await target.close();
  });

  it('never writes a corrupted segment: the target keeps the previous pass', async () => {
    await stage(1, 'snap-1');
    await stage(2, 'snap-2', 'snap-1');
    const segmentKeys = (await staging.list(`${passPrefix('vol-a', 2)}segments/`)).reverse();
    const last = staging.objects.get(segmentKeys[0] ?? '');
    if (!last) throw new Error('no segment staged');
    last.body.writeUInt8(last.body.readUInt8(last.body.length - 100) ^ 0x01, last.body.length - 100);
    const { target, applier: a } = await applier(join(dir, 'target.img'));
    await a.applyPass(1);

    await expect(a.applyPass(2)).rejects.toThrow(CorruptSegmentError);
    await target.close();
    expect((await readFile(join(dir, 'target.img'))).equals(image(v1))).toBe(true);
  });

  it('writes a first full pass as it fetches it, without a spool: a corrupt segment stops it there, a rerun completes it', async () => {
    await stage(1, 'snap-1');
    const segmentKeys = (await staging.list(`${passPrefix('vol-a', 1)}segments/`)).sort();
    const last = staging.objects.get(segmentKeys[segmentKeys.length - 1] ?? '');
    if (!last || segmentKeys.length < 2) throw new Error('expected at least two segments');
    const original = Buffer.from(last.body);
    last.body.writeUInt8(last.body.readUInt8(last.body.length - 100) ^ 0x01, last.body.length - 100);
    const { target, applier: a } = await applier(join(dir, 'target.img'));

    await expect(a.applyPass(1)).rejects.toThrow(CorruptSegmentError);
    // The segments before the corrupt one are on the target already; nothing went through a spool.
    const partial = await readFile(join(dir, 'target.img'));
    expect(partial.subarray(0, BLOCK_SIZE).equals(v1.get(0) as Buffer)).toBe(true);
    await expect(readFile(join(dir, 'state', 'spool'))).rejects.toMatchObject({ code: 'ENOENT' });

    original.copy(last.body);
    const report = await a.applyPass(1);
    await target.close();
    expect(report.applied).toBe(true);
    expect((await readFile(join(dir, 'target.img'))).equals(image(v1))).toBe(true);
  });

  it('refuses a target smaller than the source and writes nothing', async () => {
    await stage(1, 'snap-1');
    const { target, applier: a } = await applier(join(dir, 'small.img'), SIZE - 1);
    await expect(a.applyPass(1)).rejects.toThrow(TargetTooSmallError);
    await target.close();
    expect((await readFile(join(dir, 'small.img'))).equals(Buffer.alloc(SIZE - 1))).toBe(true);
  });

  it('re-sends the ack but writes nothing for a pass already applied', async () => {
    await stage(1, 'snap-1');
    const { target, applier: a } = await applier(join(dir, 'target.img'));
    await a.applyPass(1);
    const again = await a.applyPass(1);
    await target.close();
    expect(again).toMatchObject({ applied: false, blocksWritten: 0 });
  });

  it('follows a pass while it streams and applies it once sealed', async () => {
    await stage(1, 'snap-1');
    const { target, applier: a } = await applier(join(dir, 'target.img'));
    await a.applyPass(1);

    const following = a.followPass(2, { pollMs: 5 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    await stage(2, 'snap-2', 'snap-1');
    const report = await following;
    await target.close();

    expect(report).toMatchObject({ passNumber: 2, applied: true });
    expect((await readFile(join(dir, 'target.img'))).equals(image(v2))).toBe(true);
  });

  it('stops following when told to, and when the wait times out', async () => {
    const { target, applier: a } = await applier(join(dir, 'target.img'));
    const stop = new AbortController();
    const following = a.followPass(1, { pollMs: 5, signal: stop.signal });
    stop.abort();
    await expect(following).rejects.toThrow(/abort/i);
    await expect(a.followPass(1, { pollMs: 5, timeoutMs: 20 })).rejects.toThrow(/manifest\.json \(waited 20 ms\)/);
    await target.close();
  });

  describe('segments downloaded while the pass streams (prefetch)', () => {
    it('downloads each segment once, as it is staged, and applies the pass byte-identical', async () => {
      const v3 = new Map(v2)
        .set(6, randomBytes(BLOCK_SIZE))
        .set(7, randomBytes(BLOCK_SIZE))
        .set(9, randomBytes(BLOCK_SIZE));
      source.add('snap-3', 'vol-a', SIZE, v3);
      await stage(1, 'snap-1');
      const { target, applier: a } = await applier(join(dir, 'target.img'));
      await a.applyPass(1);
      const gets = countSegmentGets();

      const streamed = await stage(2, 'snap-3', 'snap-1', (record) => a.prefetch(2, record));
      const fetchedBeforeSeal = gets.size;
      const report = await a.applyPass(2);
      await target.close();

      expect(streamed.manifest.segments.length).toBe(3);
      expect(fetchedBeforeSeal).toBe(3);
      expect([...gets.values()]).toEqual([1, 1, 1]);
      expect(report).toMatchObject({ passNumber: 2, applied: true });
      expect((await readFile(join(dir, 'target.img'))).equals(image(v3))).toBe(true);
    });

    it('never writes a segment corrupted in staging before its early download: the target keeps the previous pass', async () => {
      await stage(1, 'snap-1');
      const { target, applier: a } = await applier(join(dir, 'target.img'));
      await a.applyPass(1);

      await stage(2, 'snap-2', 'snap-1', (record) => {
        const object = staging.objects.get(passPrefix('vol-a', 2) + record.key);
        if (object && record.dataBlocks > 0) object.body.writeUInt8(object.body.readUInt8(100) ^ 0x01, 100);
        a.prefetch(2, record);
      });

      await expect(a.applyPass(2)).rejects.toThrow(CorruptSegmentError);
      await target.close();
      expect((await readFile(join(dir, 'target.img'))).equals(image(v1))).toBe(true);
    });

    it('does not use an early body the manifest does not name: a segment staged anew is fetched again', async () => {
      await stage(1, 'snap-1');
      const { target, applier: a } = await applier(join(dir, 'target.img'));
      await a.applyPass(1);
      // The early download is a whole, genuine segment of pass 2 as first streamed from snap-2 ...
      await stage(2, 'snap-2', 'snap-1', (record) => a.prefetch(2, record));
      // ... but the pass is streamed again (same keys) from snap-3 before it is applied, so the manifest names another
      // index digest under that key.
      const v3 = new Map(v2).set(5, randomBytes(BLOCK_SIZE));
      source.add('snap-3', 'vol-a', SIZE, v3);
      const restaged = await stage(2, 'snap-3', 'snap-1');
      const key = passPrefix('vol-a', 2) + (restaged.manifest.segments[0] as SegmentRecord).key;
      const gets = countSegmentGets();

      await a.applyPass(2);
      await target.close();

      expect(gets.get(key)).toBe(1);
      expect((await readFile(join(dir, 'target.img'))).equals(image(v3))).toBe(true);
    });

    it('ignores segments of a pass already applied', async () => {
      const streamed = await stage(1, 'snap-1');
      const { target, applier: a } = await applier(join(dir, 'target.img'));
      await a.applyPass(1);
      const gets = countSegmentGets();
      for (const record of streamed.manifest.segments) a.prefetch(1, record);
      await target.close();
      expect(gets.size).toBe(0);
    });
  });
});
