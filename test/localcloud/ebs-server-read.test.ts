import { join } from 'node:path';
import {
  type EBSClient,
  GetSnapshotBlockCommand,
  ListChangedBlocksCommand,
  ListSnapshotBlocksCommand,
} from '@aws-sdk/client-ebs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import {
  createVolume,
  type LocalCloud,
  type SnapshotInfo,
  snapshotVolume,
  writeVolume,
  writeVolumeBlocks,
} from '../../core/localcloud/index.js';
import {
  digestOf,
  ebsClient,
  listAllBlocks,
  listAllChangedBlocks,
  randomBlock,
  rejectionOf,
  sha256Base64,
  startTestCloud,
} from './helpers.js';

const VOLUME_BYTES = 300 * BLOCK_SIZE + 4_096; // 150 MiB and a partial last block
const WRITTEN = [0, 1, 2, 50, 51, 99, 100, 101, 180, 250, 299, 300];

describe('local EBS server: read API through @aws-sdk/client-ebs', () => {
  let cloud: LocalCloud;
  let client: EBSClient;
  let parent: SnapshotInfo;
  let child: SnapshotInfo;
  let unrelated: SnapshotInfo;
  const content = new Map<number, Buffer>();

  beforeAll(async () => {
    cloud = await startTestCloud();
    client = ebsClient(cloud);
    const volume = join(cloud.volumesDir, 'vol-a.img');
    await createVolume(volume, VOLUME_BYTES);
    for (const index of WRITTEN.slice(0, -1)) {
      content.set(index, randomBlock());
      await writeVolumeBlocks(volume, index, content.get(index) as Buffer);
    }
    const tail = Buffer.alloc(BLOCK_SIZE);
    tail.fill(7, 0, 4_096);
    content.set(300, tail);
    await writeVolume(volume, 300 * BLOCK_SIZE, tail.subarray(0, 4_096));
    parent = await snapshotVolume(cloud.store, volume);
    await writeVolumeBlocks(volume, 50, randomBlock()); // changed
    await writeVolumeBlocks(volume, 99, Buffer.alloc(BLOCK_SIZE)); // became zero
    await writeVolumeBlocks(volume, 120, randomBlock()); // new in the child
    child = await snapshotVolume(cloud.store, volume, { parentSnapshotId: parent.snapshotId });
    const other = join(cloud.volumesDir, 'vol-b.img');
    await createVolume(other, 2 * BLOCK_SIZE);
    await writeVolumeBlocks(other, 0, randomBlock());
    unrelated = await snapshotVolume(cloud.store, other);
  });

  afterAll(async () => {
    client?.destroy();
    await cloud?.stop();
  });

  it('pages ListSnapshotBlocks through short and empty pages to exactly the written blocks', async () => {
    cloud.ebs.setFaults({ shortPages: true });
    try {
      let pages = 0;
      let emptyPages = 0;
      for (let round = 0; round < 20; round++) {
        const listing = await listAllBlocks(client, parent.snapshotId, 100);
        expect(listing.blocks.map((block) => block.index)).toEqual(WRITTEN);
        pages += listing.pages;
        emptyPages += listing.emptyPagesWithToken;
      }

      expect(pages).toBeGreaterThan(2 * 20);
      expect(emptyPages).toBeGreaterThan(0);
    } finally {
      cloud.ebs.setFaults({ shortPages: false });
    }
  });

  it('reports volume size in GiB, block size and a block-token expiry seven days out', async () => {
    const page = await client.send(new ListSnapshotBlocksCommand({ SnapshotId: parent.snapshotId }));

    expect(page.VolumeSize).toBe(1);
    expect(page.BlockSize).toBe(BLOCK_SIZE);
    expect(page.NextToken).toBeUndefined();
    const days = ((page.ExpiryTime?.getTime() ?? 0) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThanOrEqual(7);
  });

  it('starts a listing at StartingBlockIndex', async () => {
    const page = await client.send(
      new ListSnapshotBlocksCommand({ SnapshotId: parent.snapshotId, StartingBlockIndex: 100, MaxResults: 100 }),
    );

    expect(page.Blocks?.map((block) => block.BlockIndex)).toEqual([100, 101, 180, 250, 299, 300]);
  });

  it('serves GetSnapshotBlock bytes whose SHA-256 equals the x-amz-Checksum header, the last block zero-padded', async () => {
    const { blocks } = await listAllBlocks(client, parent.snapshotId);
    for (const block of blocks) {
      const response = await client.send(
        new GetSnapshotBlockCommand({
          SnapshotId: parent.snapshotId,
          BlockIndex: block.index,
          BlockToken: block.token,
        }),
      );
      const data = Buffer.from((await response.BlockData?.transformToByteArray()) ?? []);

      expect(response.DataLength).toBe(BLOCK_SIZE);
      expect(response.ChecksumAlgorithm).toBe('SHA256');
      expect(sha256Base64(data)).toBe(response.Checksum);
      expect(digestOf(data)).toBe(digestOf(content.get(block.index) as Buffer));
    }
  });

  it('lists exactly the changed blocks between parent and child, FirstBlockToken absent for a new block', async () => {
    const changed = await listAllChangedBlocks(client, parent.snapshotId, child.snapshotId);

    expect(changed.map((block) => block.BlockIndex)).toEqual([50, 99, 120]);
    expect(changed.map((block) => [Boolean(block.FirstBlockToken), Boolean(block.SecondBlockToken)])).toEqual([
      [true, true],
      [true, true],
      [false, true],
    ]);
    const becameZero = changed[1];
    const response = await client.send(
      new GetSnapshotBlockCommand({
        SnapshotId: child.snapshotId,
        BlockIndex: 99,
        BlockToken: becameZero?.SecondBlockToken,
      }),
    );
    const data = Buffer.from((await response.BlockData?.transformToByteArray()) ?? []);
    expect(data.equals(Buffer.alloc(BLOCK_SIZE))).toBe(true);
  });

  it('answers ListChangedBlocks between unrelated snapshots with ValidationException UNRELATED_SNAPSHOTS', async () => {
    const error = await rejectionOf(
      client.send(
        new ListChangedBlocksCommand({ FirstSnapshotId: parent.snapshotId, SecondSnapshotId: unrelated.snapshotId }),
      ),
    );

    expect(error.name).toBe('ValidationException');
    expect(error.Reason).toBe('UNRELATED_SNAPSHOTS');
  });

  it('answers an unknown snapshot with ResourceNotFoundException SNAPSHOT_NOT_FOUND', async () => {
    const error = await rejectionOf(
      client.send(new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0123456789abcdef0' })),
    );

    expect(error.name).toBe('ResourceNotFoundException');
    expect(error.Reason).toBe('SNAPSHOT_NOT_FOUND');
    expect(error.$metadata?.httpStatusCode).toBe(404);
  });

  it('rejects a forged block token and a token of another block with INVALID_BLOCK_TOKEN', async () => {
    const { blocks } = await listAllBlocks(client, parent.snapshotId);
    const [first, second] = blocks;
    const forged = Buffer.from(first?.token ?? '', 'base64');
    forged[10] = (forged[10] ?? 0) ^ 1;

    for (const token of [forged.toString('base64'), second?.token]) {
      const error = await rejectionOf(
        client.send(
          new GetSnapshotBlockCommand({ SnapshotId: parent.snapshotId, BlockIndex: first?.index, BlockToken: token }),
        ),
      );
      expect(error.name).toBe('ValidationException');
      expect(error.Reason).toBe('INVALID_BLOCK_TOKEN');
    }
    const otherSnapshot = await rejectionOf(
      client.send(
        new GetSnapshotBlockCommand({
          SnapshotId: child.snapshotId,
          BlockIndex: first?.index,
          BlockToken: first?.token,
        }),
      ),
    );
    expect(otherSnapshot.Reason).toBe('INVALID_BLOCK_TOKEN');
  });

  it('rejects MaxResults outside 100–10,000 and a NextToken of another request', async () => {
    for (const maxResults of [99, 10_001]) {
      const error = await rejectionOf(
        client.send(new ListSnapshotBlocksCommand({ SnapshotId: parent.snapshotId, MaxResults: maxResults })),
      );
      expect(error.name).toBe('ValidationException');
      expect(error.Reason).toBe('INVALID_PARAMETER_VALUE');
    }
    const page = await client.send(
      new ListChangedBlocksCommand({ SecondSnapshotId: parent.snapshotId, MaxResults: 100 }),
    );
    expect(page.ChangedBlocks?.map((block) => block.BlockIndex)).toEqual(WRITTEN.slice(0, 100));
    cloud.ebs.setFaults({ shortPages: true });
    let token: string | undefined;
    while (!token) {
      token = (await client.send(new ListSnapshotBlocksCommand({ SnapshotId: parent.snapshotId, MaxResults: 100 })))
        .NextToken;
    }
    cloud.ebs.setFaults({ shortPages: false });
    const error = await rejectionOf(
      client.send(new ListSnapshotBlocksCommand({ SnapshotId: child.snapshotId, MaxResults: 100, NextToken: token })),
    );
    expect(error.Reason).toBe('INVALID_PAGE_TOKEN');
  });

  it('denies a request signed with another access key or a wrong secret', async () => {
    for (const credentials of [
      { accessKeyId: 'AKIAOTHERKEY', secretAccessKey: cloud.credentials.secretAccessKey },
      { accessKeyId: cloud.credentials.accessKeyId, secretAccessKey: 'not-the-secret' },
    ]) {
      const stranger = ebsClient(cloud, { credentials });
      const error = await rejectionOf(stranger.send(new ListSnapshotBlocksCommand({ SnapshotId: parent.snapshotId })));
      stranger.destroy();

      expect(error.name).toBe('AccessDeniedException');
      expect(error.$metadata?.httpStatusCode).toBe(403);
    }
  });
});
