import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { Applier } from '../../core/engine/applier.js';
import { runPass } from '../../core/engine/pass.js';
import { diskSpoolFor } from '../../core/engine/segment-spool.js';
import { SpoolFullError, TargetFullError } from '../../core/errors.js';
import { applyErrorRecord } from '../../core/gateway/apply-error.js';
import type { BlockTarget } from '../../core/ports.js';
import { MemoryBlockSource } from '../support/memory-block-source.js';
import { MemoryStaging } from '../support/memory-staging.js';

const BLOCKS = 16;
const SIZE = BLOCKS * BLOCK_SIZE;

/** What Node's fs raises when the device is full. */
function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
}

/** A file target whose writes fail with ENOSPC after `room` of them succeed, as a filling disk would. */
function fillingUp(inner: BlockTarget, room: number): BlockTarget {
  let writes = 0;
  return {
    path: inner.path,
    sizeBytes: inner.sizeBytes,
    write: (data, offset) => (++writes > room ? Promise.reject(enospc()) : inner.write(data, offset)),
    read: (length, offset) => inner.read(length, offset),
    sync: () => inner.sync(),
    blank: (sizeBytes) => inner.blank(sizeBytes),
    close: () => inner.close(),
  };
}

describe('applier on a full disk', () => {
  let dir: string;
  let staging: MemoryStaging;
  let volume: Buffer;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hb-full-'));
    staging = new MemoryStaging();
    const source = new MemoryBlockSource();
    const blocks = new Map(Array.from({ length: BLOCKS }, (_, i) => [i, randomBytes(BLOCK_SIZE)] as const));
    source.add('snap-1', 'vol-a', SIZE, blocks);
    volume = Buffer.concat([...blocks.values()]);
    const request = { volumeKey: 'vol-a', passNumber: 1, kind: 'full' as const, snapshotId: 'snap-1' };
    await runPass({ ...request, volumeSizeBytes: SIZE, segmentBlocks: 2, shardBlocks: 8 }, { source, staging });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const open = (target: BlockTarget) =>
    Applier.open({ staging, volumeKey: 'vol-a', target, stateDir: join(dir, 'state') });

  it('stops with TargetFullError naming the target and what is left, and resumes once there is room', async () => {
    const path = join(dir, 'target.img');
    const target = await openFileTarget(path, { createWithSize: SIZE });
    const full = await (await open(fillingUp(target, 5))).applyPass(1).catch((error: unknown) => error);

    expect(full).toBeInstanceOf(TargetFullError);
    expect((full as TargetFullError).message).toContain(path);
    // Nothing was checkpointed before the 6th write: the whole pass (16 blocks of data) is still to write.
    expect((full as TargetFullError).bytesNeeded).toBe(SIZE);
    // What a sync gateway leaves for CheckApplied: the named error, not a bare "Error".
    expect(applyErrorRecord('vol-a', 1, full)).toMatchObject({ error: 'TargetFullError', passNumber: 1 });

    const report = await (await open(target)).applyPass(1);
    await target.close();
    expect(report.applied).toBe(true);
    expect((await readFile(path)).equals(volume)).toBe(true);
  });

  it('stops with SpoolFullError naming the state directory when the spool cannot be written (/dev/full)', async () => {
    const stateDir = join(dir, 'state');
    const spool = diskSpoolFor(stateDir, 1);
    const manifest = JSON.parse((await staging.get(manifestKey(staging))).toString()) as {
      segments: { key: string }[];
    };
    const first = manifest.segments[0]?.key ?? '';
    // The kernel's own ENOSPC: the spool's temp file is a link to /dev/full, whose every write fails so.
    await mkdir(spool.dir, { recursive: true });
    await symlink('/dev/full', join(spool.dir, `${basename(first)}.tmp`));
    const path = join(dir, 'target.img');
    const target = await openFileTarget(path, { createWithSize: SIZE });

    const full = await (await open(target)).applyPass(1).catch((error: unknown) => error);
    expect(full).toBeInstanceOf(SpoolFullError);
    expect((full as SpoolFullError).message).toContain(stateDir);
    // The partial temp file is gone, so the room it took is free again.
    expect((await readdir(spool.dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    const report = await (await open(target)).applyPass(1);
    await target.close();
    expect(report.applied).toBe(true);
    expect((await readFile(path)).equals(volume)).toBe(true);
  });
});

function manifestKey(staging: MemoryStaging): string {
  const key = [...staging.objects.keys()].find((candidate) => candidate.endsWith('/manifest.json'));
  if (!key) throw new Error('no manifest staged');
  return key;
}
