import { join } from 'node:path';
import { BLOCK_SIZE } from '../blocks.js';
import { createVolume, snapshotVolume, writeVolumeBlocks } from './local-volume.js';
import type { SnapshotInfo, SnapshotStore } from './snapshot-store.js';

/** Tag that marks the sample snapshot, so a restart on the same directory finds it instead of making another. */
export const SAMPLE_SNAPSHOT_TAG = 'homebound:sample';
/** The sample volume's size: 16 blocks of 512 KiB, 8 MiB. */
export const SAMPLE_VOLUME_BYTES = 16 * BLOCK_SIZE;
/** The blocks written on the sample volume; the others read as zeros and are not listed, as on EBS. */
export const SAMPLE_WRITTEN_BLOCKS: readonly number[] = [0, 1, 2, 7, 15];

/** A block whose bytes say what it is, so `aws ebs get-snapshot-block` output is recognisable. */
function sampleBlock(index: number): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  block.fill(`homebound sample volume, block ${index}\n`);
  return block;
}

/**
 * The local cloud's sample: a completed snapshot of a small volume (`<volumesDir>/sample.img`) with a few written
 * blocks, so an AWS client has something to list and read right after `local-cloud --sample-snapshot`. Idempotent:
 * an existing sample in the store is returned as it is.
 */
export async function ensureSampleSnapshot(store: SnapshotStore, volumesDir: string): Promise<SnapshotInfo> {
  const existing = (await store.list()).find(
    (snapshot) => snapshot.tags[SAMPLE_SNAPSHOT_TAG] === 'true' && snapshot.status === 'completed',
  );
  if (existing) return existing;
  const volume = join(volumesDir, 'sample.img');
  await createVolume(volume, SAMPLE_VOLUME_BYTES);
  for (const index of SAMPLE_WRITTEN_BLOCKS) await writeVolumeBlocks(volume, index, sampleBlock(index));
  return snapshotVolume(store, volume, {
    description: 'homebound local-cloud sample snapshot',
    tags: { [SAMPLE_SNAPSHOT_TAG]: 'true' },
  });
}
