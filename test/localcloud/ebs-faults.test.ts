import { Agent } from 'node:http';
import { join } from 'node:path';
import { type EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { createVolume, type LocalCloud, snapshotVolume, writeVolumeBlocks } from '../../core/localcloud/index.js';
import { ebsClient, listAllBlocks, randomBlock, rejectionOf, sha256Base64, startTestCloud } from './helpers.js';

const BLOCKS = 64;

describe('local EBS server: fault injection and throughput', () => {
  let cloud: LocalCloud;
  let client: EBSClient;
  let snapshotId: string;
  let blocks: { index: number; token: string }[];

  beforeAll(async () => {
    cloud = await startTestCloud({ seed: 42 });
    // No retries, so every injected fault reaches the test; enough sockets for a real burst.
    client = ebsClient(cloud, {
      maxAttempts: 1,
      requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 256 }) },
    });
    const volume = join(cloud.volumesDir, 'vol.img');
    await createVolume(volume, BLOCKS * BLOCK_SIZE);
    for (let index = 0; index < BLOCKS; index++) await writeVolumeBlocks(volume, index, randomBlock());
    snapshotId = (await snapshotVolume(cloud.store, volume)).snapshotId;
    ({ blocks } = await listAllBlocks(client, snapshotId));
  });

  afterEach(() => {
    cloud.ebs.setFaults({ quotaPerSnapshot: undefined, throttleRate: 0, errorRate: 0, corruptBlocks: 0, latencyMs: 0 });
    cloud.ebs.resetStats();
  });

  afterAll(async () => {
    client?.destroy();
    await cloud?.stop();
  });

  async function getBlock(i: number): Promise<{ data: Buffer; checksum: string | undefined }> {
    const block = blocks[i % blocks.length];
    const response = await client.send(
      new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: block?.index, BlockToken: block?.token }),
    );
    return { data: Buffer.from((await response.BlockData?.transformToByteArray()) ?? []), checksum: response.Checksum };
  }

  it('throttles a burst beyond quotaPerSnapshot with RequestThrottledException RESOURCE_LEVEL_THROTTLE', async () => {
    cloud.ebs.setFaults({ quotaPerSnapshot: 50 });

    const started = performance.now();
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => getBlock(i)));
    const seconds = (performance.now() - started) / 1000;

    const rejected = results.flatMap((result) =>
      result.status === 'rejected' ? [result.reason as Error & { Reason?: string }] : [],
    );
    const served = results.length - rejected.length;
    // A token bucket of 50 refilled at 50/s: at most the bucket plus what refilled while the burst arrived
    // (on a loaded machine the burst can take a while to arrive).
    expect(served).toBeGreaterThanOrEqual(50);
    expect(served).toBeLessThanOrEqual(50 + Math.ceil(50 * seconds) + 1);
    expect(rejected.length).toBeGreaterThan(0);
    expect(rejected.every((error) => error.name === 'RequestThrottledException')).toBe(true);
    expect(rejected[0]?.Reason).toBe('RESOURCE_LEVEL_THROTTLE');
    expect(cloud.ebs.stats.throttled).toBe(rejected.length);
  });

  it('throttles block calls at random under throttleRate but leaves List calls alone', async () => {
    cloud.ebs.setFaults({ throttleRate: 1 });

    const error = await rejectionOf(getBlock(0));
    const page = await client.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId }));

    expect(error.name).toBe('RequestThrottledException');
    expect(page.Blocks).toHaveLength(BLOCKS);
  });

  it('answers a share of calls with 500 InternalServerException under errorRate', async () => {
    cloud.ebs.setFaults({ errorRate: 0.3 });

    const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => getBlock(i)));

    const failures = results.flatMap((result) =>
      result.status === 'rejected'
        ? [result.reason as Error & { $fault?: string; $metadata?: { httpStatusCode?: number } }]
        : [],
    );
    expect(failures.length).toBeGreaterThan(10);
    expect(failures.length).toBeLessThan(50);
    expect(failures.every((error) => error.name === 'InternalServerException')).toBe(true);
    expect(failures[0]?.$metadata?.httpStatusCode).toBe(500);
    expect(cloud.ebs.stats.errors).toBe(failures.length);
  });

  it('corrupts the next corruptBlocks bodies under the correct checksum header, then serves clean blocks', async () => {
    cloud.ebs.setFaults({ corruptBlocks: 2 });
    const expected = await cloud.store.blockSha256(snapshotId, blocks[0]?.index ?? 0);

    const answers = [await getBlock(0), await getBlock(0), await getBlock(0)];

    expect(answers.map((answer) => answer.checksum)).toEqual(Array(3).fill(expected?.toString('base64')));
    expect(answers.map((answer) => sha256Base64(answer.data) === answer.checksum)).toEqual([false, false, true]);
    expect(cloud.ebs.stats.corrupted).toBe(2);
    expect(cloud.ebs.faults.corruptBlocks).toBe(0);
  });

  it('delays every response by latencyMs', async () => {
    cloud.ebs.setFaults({ latencyMs: 150 });

    const started = performance.now();
    await getBlock(0);

    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
  });

  it('counts calls per operation and bytes served', async () => {
    await getBlock(0);
    await client.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId }));

    expect(cloud.ebs.stats.calls.GetSnapshotBlock).toBe(1);
    expect(cloud.ebs.stats.calls.ListSnapshotBlocks).toBe(1);
    expect(cloud.ebs.stats.bytesServed).toBe(BLOCK_SIZE);
  });

  it('sustains hundreds of 512 KiB GetSnapshotBlock calls per second over keep-alive', async () => {
    const total = 1_000;
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < total) {
          const { data, checksum } = await getBlock(next++);
          if (data.length !== BLOCK_SIZE || !checksum) throw new Error('short block');
        }
      }),
    );
    const perSecond = total / ((performance.now() - started) / 1000);

    // SDK client and server share this process (and 2 cores in CI); alone, the server does several times more.
    expect(perSecond).toBeGreaterThan(100);
    expect(cloud.ebs.stats.bytesServed).toBe(total * BLOCK_SIZE);
  });
});
