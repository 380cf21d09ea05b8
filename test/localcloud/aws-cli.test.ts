import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import {
  createVolume,
  type LocalCloud,
  type SnapshotInfo,
  snapshotVolume,
  writeVolumeBlocks,
} from '../../core/localcloud/index.js';
import { awsCli, randomBlock, sha256Base64, startTestCloud } from './helpers.js';

describe('local EBS server through the AWS CLI (Debian awscli)', () => {
  let cloud: LocalCloud;
  let parent: SnapshotInfo;
  let child: SnapshotInfo;
  const blocks = new Map<number, Buffer>();

  const aws = (...args: string[]) => awsCli(cloud, cloud.ebsEndpoint, ['ebs', ...args, '--output', 'json']);

  beforeAll(async () => {
    cloud = await startTestCloud();
    const volume = join(cloud.volumesDir, 'vol.img');
    await createVolume(volume, 8 * BLOCK_SIZE);
    for (const index of [0, 2, 3]) {
      blocks.set(index, randomBlock());
      await writeVolumeBlocks(volume, index, blocks.get(index) as Buffer);
    }
    parent = await snapshotVolume(cloud.store, volume);
    blocks.set(6, randomBlock());
    await writeVolumeBlocks(volume, 6, blocks.get(6) as Buffer);
    child = await snapshotVolume(cloud.store, volume, { parentSnapshotId: parent.snapshotId });
  });

  afterAll(async () => {
    await cloud?.stop();
  });

  it('lists snapshot blocks with aws ebs list-snapshot-blocks', async () => {
    const listing = JSON.parse(await aws('list-snapshot-blocks', '--snapshot-id', parent.snapshotId));

    expect(listing.Blocks.map((block: { BlockIndex: number }) => block.BlockIndex)).toEqual([0, 2, 3]);
    expect(listing.BlockSize).toBe(BLOCK_SIZE);
    expect(listing.VolumeSize).toBe(1);
  });

  it('lists changed blocks with aws ebs list-changed-blocks, without a FirstBlockToken for a new block', async () => {
    const listing = JSON.parse(
      await aws(
        'list-changed-blocks',
        '--first-snapshot-id',
        parent.snapshotId,
        '--second-snapshot-id',
        child.snapshotId,
      ),
    );

    expect(listing.ChangedBlocks).toHaveLength(1);
    expect(listing.ChangedBlocks[0].BlockIndex).toBe(6);
    expect(listing.ChangedBlocks[0].FirstBlockToken).toBeUndefined();
    expect(listing.ChangedBlocks[0].SecondBlockToken).toEqual(expect.any(String));
  });

  it('writes a block to a file with aws ebs get-snapshot-block, its SHA-256 matching the checksum', async () => {
    const listing = JSON.parse(await aws('list-snapshot-blocks', '--snapshot-id', child.snapshotId));
    const block = listing.Blocks.find((entry: { BlockIndex: number }) => entry.BlockIndex === 2);
    const outfile = join(cloud.dir, 'block-2.bin');

    const answer = JSON.parse(
      await aws(
        'get-snapshot-block',
        '--snapshot-id',
        child.snapshotId,
        '--block-index',
        '2',
        '--block-token',
        block.BlockToken,
        outfile,
      ),
    );
    const data = await readFile(outfile);

    expect(data.length).toBe(BLOCK_SIZE);
    expect(answer.ChecksumAlgorithm).toBe('SHA256');
    expect(sha256Base64(data)).toBe(answer.Checksum);
    expect(sha256Base64(data)).toBe(sha256Base64(blocks.get(2) as Buffer));
  });

  it('writes a snapshot with start-snapshot, put-snapshot-block and complete-snapshot, then reads it back', async () => {
    const data = randomBlock();
    const blockFile = join(cloud.dir, 'put-block.bin');
    await writeFile(blockFile, data);

    const started = JSON.parse(
      await aws(
        'start-snapshot',
        '--volume-size',
        '1',
        '--parent-snapshot-id',
        parent.snapshotId,
        '--client-token',
        'cli-test-1',
      ),
    );
    const put = JSON.parse(
      await aws(
        'put-snapshot-block',
        '--snapshot-id',
        started.SnapshotId,
        '--block-index',
        '5',
        '--block-data',
        blockFile,
        '--data-length',
        String(BLOCK_SIZE),
        '--checksum',
        sha256Base64(data),
        '--checksum-algorithm',
        'SHA256',
      ),
    );
    const completed = JSON.parse(
      await aws('complete-snapshot', '--snapshot-id', started.SnapshotId, '--changed-blocks-count', '1'),
    );
    const listing = JSON.parse(await aws('list-snapshot-blocks', '--snapshot-id', started.SnapshotId));

    expect(started.Status).toBe('pending');
    expect(put.Checksum).toBe(sha256Base64(data));
    expect(completed.Status).toBe('completed');
    // The child shares its parent's blocks 0, 2, 3 and adds block 5.
    expect(listing.Blocks.map((entry: { BlockIndex: number }) => entry.BlockIndex)).toEqual([0, 2, 3, 5]);
  });
});
