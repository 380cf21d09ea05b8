import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetSnapshotBlockCommand } from '@aws-sdk/client-ebs';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { BLOCK_SIZE, blockCountFor } from '../../core/blocks.js';
import {
  createVolume,
  localS3ClientConfig,
  readVolume,
  snapshotVolume,
  startLocalCloud,
  writeVolume,
} from '../../core/localcloud/index.js';
import { digestOf, ebsClient, listAllBlocks, sha256Base64, startTestCloud, tempDir } from './helpers.js';

const run = promisify(execFile);

describe('startLocalCloud', () => {
  it('round-trips a volume whose size is not a multiple of 512 KiB through the SDK, the last block zero-padded', async () => {
    const cloud = await startTestCloud();
    const client = ebsClient(cloud);
    try {
      const volume = join(cloud.volumesDir, 'odd.img');
      const sizeBytes = 9 * BLOCK_SIZE + 777;
      await createVolume(volume, sizeBytes);
      await writeVolume(volume, 0, randomBytes(sizeBytes));
      const snapshot = await snapshotVolume(cloud.store, volume);

      const { blocks } = await listAllBlocks(client, snapshot.snapshotId);
      const restored = Buffer.alloc(blockCountFor(sizeBytes) * BLOCK_SIZE);
      for (const block of blocks) {
        const answer = await client.send(
          new GetSnapshotBlockCommand({
            SnapshotId: snapshot.snapshotId,
            BlockIndex: block.index,
            BlockToken: block.token,
          }),
        );
        const data = Buffer.from((await answer.BlockData?.transformToByteArray()) ?? []);
        expect(sha256Base64(data)).toBe(answer.Checksum);
        data.copy(restored, block.index * BLOCK_SIZE);
      }

      expect(snapshot.sourceBytes).toBe(sizeBytes);
      expect(blocks).toHaveLength(10);
      expect(digestOf(restored.subarray(0, sizeBytes))).toBe(digestOf(await readVolume(volume, 0, sizeBytes)));
      expect(restored.subarray(sizeBytes).every((byte) => byte === 0)).toBe(true);
    } finally {
      client.destroy();
      await cloud.stop();
    }
  });

  it('gives a child process the endpoints and key pair through env(), which the SDK picks up unaided', async () => {
    const cloud = await startTestCloud();
    try {
      const volume = join(cloud.volumesDir, 'vol.img');
      await createVolume(volume, BLOCK_SIZE);
      await writeVolume(volume, 0, Buffer.from('hello'));
      const snapshot = await snapshotVolume(cloud.store, volume);
      const script = `
        import { EBSClient, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
        const page = await new EBSClient({}).send(new ListSnapshotBlocksCommand({ SnapshotId: '${snapshot.snapshotId}' }));
        console.log(JSON.stringify(page.Blocks.map((block) => block.BlockIndex)));`;

      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
        cwd: process.cwd(),
        env: { PATH: process.env.PATH ?? '', HOME: cloud.dir, AWS_CONFIG_FILE: '/dev/null', ...cloud.env() },
      });

      expect(JSON.parse(stdout)).toEqual([0]);
      expect(cloud.env()).toMatchObject({
        AWS_ENDPOINT_URL_EBS: cloud.ebsEndpoint,
        AWS_ENDPOINT_URL_S3: cloud.s3Endpoint,
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_REGION: 'us-east-1',
      });
    } finally {
      await cloud.stop();
    }
  });

  it('keeps snapshots and staged objects across a restart on the same directory', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const first = await startLocalCloud({ dir });
      const volume = join(first.volumesDir, 'vol.img');
      await createVolume(volume, 2 * BLOCK_SIZE);
      await writeVolume(volume, BLOCK_SIZE, Buffer.from('data'));
      const snapshot = await snapshotVolume(first.store, volume);
      const s3 = new S3Client(localS3ClientConfig(first));
      await s3.send(new PutObjectCommand({ Bucket: 'homebound-staging', Key: 'kept', Body: Buffer.from('kept') }));
      s3.destroy();
      await first.stop();

      const second = await startLocalCloud({ dir });
      const again = new S3Client(localS3ClientConfig(second));
      try {
        const object = await again.send(new GetObjectCommand({ Bucket: 'homebound-staging', Key: 'kept' }));
        expect(await object.Body?.transformToString()).toBe('kept');
        expect(await second.store.listBlocks(snapshot.snapshotId, 0, 10)).toEqual([1]);
      } finally {
        again.destroy();
        await second.stop();
      }
    } finally {
      await cleanup();
    }
  });
});
