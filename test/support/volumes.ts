import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import { BLOCK_SIZE, bytesOnDisk } from '../../core/blocks.js';
import { Applier } from '../../core/engine/applier.js';
import { type RunPassOptions, runPass } from '../../core/engine/pass.js';
import { imageSha256 } from '../../core/image-digest.js';
import { createVolume, snapshotVolume, writeVolume } from '../../core/localcloud/local-volume.js';
import type { TestCloud } from './local-cloud.js';

export type Fill = 'random' | 'zero' | number;

/** Writes block `index` of a volume with random bytes, zeros, or a byte pattern; the partial last block is trimmed. */
export async function writeBlock(path: string, sizeBytes: number, index: number, fill: Fill): Promise<Buffer> {
  const length = bytesOnDisk(index, sizeBytes);
  const data = fill === 'random' ? randomBytes(length) : Buffer.alloc(length, fill === 'zero' ? 0 : fill);
  await writeVolume(path, index * BLOCK_SIZE, data);
  return data;
}

export async function makeVolume(path: string, sizeBytes: number, blocks: Record<number, Fill>): Promise<void> {
  await createVolume(path, sizeBytes);
  for (const [index, fill] of Object.entries(blocks)) await writeBlock(path, sizeBytes, Number(index), fill);
}

/** Snapshots `volume`, streams the pass into staging and applies it to `target`; returns both reports. */
export async function syncOnce(
  test: TestCloud,
  volume: string,
  target: string,
  pass: { passNumber: number; base?: string; sizeBytes: number; volumeKey?: string },
  options: Partial<RunPassOptions> & { segmentBlocks?: number; shardBlocks?: number } = {},
) {
  const snapshot = await snapshotVolume(test.cloud.store, volume, pass.base ? { parentSnapshotId: pass.base } : {});
  const volumeKey = pass.volumeKey ?? 'vol-test';
  const stream = await runPass(
    {
      volumeKey,
      passNumber: pass.passNumber,
      kind: pass.base ? 'incremental' : 'full',
      snapshotId: snapshot.snapshotId,
      baseSnapshotId: pass.base,
      volumeSizeBytes: pass.sizeBytes,
      segmentBlocks: options.segmentBlocks ?? 4,
      shardBlocks: options.shardBlocks ?? 8,
    },
    { source: test.source, staging: test.staging, ...options },
  );
  const handle = await openFileTarget(target, { createWithSize: pass.sizeBytes });
  try {
    const applier = await Applier.open({
      staging: test.staging,
      volumeKey,
      target: handle,
      stateDir: join(test.dir, `state-${volumeKey}`),
    });
    const apply = await applier.applyPass(pass.passNumber);
    return { snapshotId: snapshot.snapshotId, stream, apply };
  } finally {
    await handle.close();
  }
}

export async function sameImage(a: string, b: string): Promise<boolean> {
  return (await imageSha256(a)) === (await imageSha256(b));
}

export async function readBlockOf(path: string, index: number): Promise<Buffer> {
  const image = await readFile(path);
  return image.subarray(index * BLOCK_SIZE, (index + 1) * BLOCK_SIZE);
}
