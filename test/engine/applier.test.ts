import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { Applier } from '../../core/engine/applier.js';
import { passPrefix } from '../../core/engine/layout.js';
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

  async function stage(passNumber: number, snapshotId: string, baseSnapshotId?: string) {
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
      { source, staging },
    );
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
});
