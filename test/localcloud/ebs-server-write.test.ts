import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  CompleteSnapshotCommand,
  type EBSClient,
  GetSnapshotBlockCommand,
  ListSnapshotBlocksCommand,
  PutSnapshotBlockCommand,
  StartSnapshotCommand,
} from '@aws-sdk/client-ebs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE, sha256 } from '../../core/blocks.js';
import { createVolume, type LocalCloud, snapshotVolume, writeVolumeBlocks } from '../../core/localcloud/index.js';
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

describe('local EBS server: write API through @aws-sdk/client-ebs', () => {
  let cloud: LocalCloud;
  let client: EBSClient;
  let parentId: string;

  beforeAll(async () => {
    cloud = await startTestCloud();
    client = ebsClient(cloud);
    const volume = join(cloud.volumesDir, 'base.img');
    await createVolume(volume, 4 * BLOCK_SIZE);
    for (let index = 0; index < 4; index++) await writeVolumeBlocks(volume, index, randomBlock());
    parentId = (await snapshotVolume(cloud.store, volume)).snapshotId;
  });

  afterAll(async () => {
    client?.destroy();
    await cloud?.stop();
  });

  function put(snapshotId: string, index: number, data: Buffer, checksum = sha256Base64(data)) {
    return client.send(
      new PutSnapshotBlockCommand({
        SnapshotId: snapshotId,
        BlockIndex: index,
        BlockData: data,
        DataLength: data.length,
        Checksum: checksum,
        ChecksumAlgorithm: 'SHA256',
      }),
    );
  }

  it('starts an incremental snapshot idempotently by ClientToken and refuses the token with other parameters', async () => {
    const clientToken = randomUUID();
    const request = { VolumeSize: 1, ParentSnapshotId: parentId, ClientToken: clientToken, Description: 'pass 2' };

    const first = await client.send(new StartSnapshotCommand({ ...request, Tags: [{ Key: 'run', Value: 'r1' }] }));
    const retry = await client.send(new StartSnapshotCommand({ ...request, Tags: [{ Key: 'run', Value: 'r1' }] }));
    const conflict = await rejectionOf(client.send(new StartSnapshotCommand({ ...request, VolumeSize: 2 })));

    expect(first.SnapshotId).toMatch(/^snap-[0-9a-f]{17}$/);
    expect(first.Status).toBe('pending');
    expect(first.ParentSnapshotId).toBe(parentId);
    expect(first.BlockSize).toBe(BLOCK_SIZE);
    expect(first.StartTime).toBeInstanceOf(Date);
    expect(Math.abs((first.StartTime?.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
    expect(first.Tags).toEqual([{ Key: 'run', Value: 'r1' }]);
    expect(retry.SnapshotId).toBe(first.SnapshotId);
    expect(conflict.name).toBe('ConflictException');
    expect(conflict.$metadata?.httpStatusCode).toBe(409);
  });

  it('rejects a PutSnapshotBlock whose checksum does not match the data', async () => {
    const { SnapshotId } = await client.send(new StartSnapshotCommand({ VolumeSize: 1 }));

    const error = await rejectionOf(put(SnapshotId ?? '', 0, randomBlock(), sha256Base64(Buffer.from('other'))));

    expect(error.name).toBe('ValidationException');
    expect(error.Reason).toBe('INVALID_BLOCK');
  });

  it('rejects a block that is not 512 KiB', async () => {
    const { SnapshotId } = await client.send(new StartSnapshotCommand({ VolumeSize: 1 }));

    const error = await rejectionOf(put(SnapshotId ?? '', 0, Buffer.alloc(4_096, 1)));

    expect(error.name).toBe('ValidationException');
    expect(error.Reason).toBe('INVALID_PARAMETER_VALUE');
  });

  it('makes a child snapshot readable after CompleteSnapshot with a LINEAR checksum, sharing the parent’s blocks', async () => {
    const { SnapshotId: childId = '' } = await client.send(
      new StartSnapshotCommand({ VolumeSize: 1, ParentSnapshotId: parentId, ClientToken: randomUUID() }),
    );
    const written = new Map([
      [1, randomBlock()],
      [6, randomBlock()],
    ]);
    for (const [index, data] of written) {
      const answer = await put(childId, index, data);
      expect(answer.Checksum).toBe(sha256Base64(data));
    }
    const pendingRead = await rejectionOf(client.send(new ListSnapshotBlocksCommand({ SnapshotId: childId })));
    expect(pendingRead.name).toBe('ValidationException');
    const linear = sha256(
      Buffer.concat([...written.keys()].sort((a, b) => a - b).map((i) => sha256(written.get(i) as Buffer))),
    );

    const completed = await client.send(
      new CompleteSnapshotCommand({
        SnapshotId: childId,
        ChangedBlocksCount: 2,
        Checksum: linear.toString('base64'),
        ChecksumAlgorithm: 'SHA256',
        ChecksumAggregationMethod: 'LINEAR',
      }),
    );

    expect(completed.Status).toBe('completed');
    const { blocks } = await listAllBlocks(client, childId);
    expect(blocks.map((block) => block.index)).toEqual([0, 1, 2, 3, 6]);
    const changed = await listAllChangedBlocks(client, parentId, childId);
    expect(changed.map((block) => block.BlockIndex)).toEqual([1, 6]);
    const six = blocks.find((block) => block.index === 6);
    const response = await client.send(
      new GetSnapshotBlockCommand({ SnapshotId: childId, BlockIndex: 6, BlockToken: six?.token }),
    );
    expect(digestOf(Buffer.from((await response.BlockData?.transformToByteArray()) ?? []))).toBe(
      digestOf(written.get(6) as Buffer),
    );
    expect((await cloud.store.get(childId)).ownedBlockCount).toBe(2);
  });

  it('refuses CompleteSnapshot whose ChangedBlocksCount is not the number of blocks put', async () => {
    const { SnapshotId = '' } = await client.send(new StartSnapshotCommand({ VolumeSize: 1 }));
    await put(SnapshotId, 3, randomBlock());

    const error = await rejectionOf(client.send(new CompleteSnapshotCommand({ SnapshotId, ChangedBlocksCount: 2 })));

    expect(error.name).toBe('ValidationException');
    expect((await cloud.store.get(SnapshotId)).status).toBe('pending');
  });

  it('refuses writes to a completed snapshot', async () => {
    const error = await rejectionOf(put(parentId, 0, randomBlock()));

    expect(error.name).toBe('ValidationException');
  });
});
