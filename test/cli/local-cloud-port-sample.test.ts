import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../support/cli.js';

/** Whether 127.0.0.1:`port` can be listened on right now. */
function isFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port p with p, p + 1 and p + 2 free: the OS picks p, the next two are checked. */
async function freePortTriple(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const server = createServer();
    const port = await new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
    );
    await new Promise((resolve) => server.close(resolve));
    if (port < 65534 && (await isFree(port)) && (await isFree(port + 1)) && (await isFree(port + 2))) return port;
  }
  throw new Error('no three consecutive free ports found');
}

/** Starts `local-cloud` and resolves with its KEY=value lines once the sample's id is among them. */
async function startLocalCloud(args: string[]) {
  const { child, done } = startCli(['local-cloud', ...args]);
  const env: Record<string, string> = {};
  let out = '';
  await new Promise<void>((resolve, reject) => {
    done.then((result) => reject(new Error(`local-cloud exited ${result.code}: ${result.stderr}`)));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      for (const match of out.matchAll(/^([A-Z0-9_]+)=(.*)$/gm)) if (match[1] && match[2]) env[match[1]] = match[2];
      if (env.HOMEBOUND_SAMPLE_SNAPSHOT_ID) resolve();
    });
  });
  return {
    env,
    stop: async () => {
      child.kill('SIGTERM');
      return done;
    },
  };
}

describe('homebound local-cloud --port --sample-snapshot', () => {
  let dir: string;
  let port: number;
  let cloud: Awaited<ReturnType<typeof startLocalCloud>>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hb-lc-sample-'));
    port = await freePortTriple();
    cloud = await startLocalCloud(['--dir', dir, '--port', String(port), '--sample-snapshot']);
  });
  afterAll(async () => {
    await cloud?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const credentials = () => ({
    accessKeyId: cloud.env.AWS_ACCESS_KEY_ID ?? '',
    secretAccessKey: cloud.env.AWS_SECRET_ACCESS_KEY ?? '',
  });

  it('serves EBS on --port, S3 on the next port and the activity API on the one after', async () => {
    expect(cloud.env.AWS_ENDPOINT_URL_EBS).toBe(`http://127.0.0.1:${port}`);
    expect(cloud.env.AWS_ENDPOINT_URL_S3).toBe(`http://127.0.0.1:${port + 1}`);
    expect(cloud.env.AWS_ENDPOINT_URL_SFN).toBe(`http://127.0.0.1:${port + 2}`);
    const s3 = new S3Client({
      endpoint: `http://127.0.0.1:${port + 1}`,
      region: 'us-east-1',
      credentials: credentials(),
      forcePathStyle: true,
    });
    const buckets = await s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((bucket) => bucket.Name)).toEqual(['homebound-staging']);
  });

  it('lists and reads the sample snapshot with the unmodified EBS client', async () => {
    const ebs = new EBSClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: credentials(),
    });
    const snapshotId = cloud.env.HOMEBOUND_SAMPLE_SNAPSHOT_ID;
    expect(snapshotId).toMatch(/^snap-[0-9a-f]{17}$/);
    const listed = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId }));
    expect(listed.Blocks?.map((block) => block.BlockIndex)).toEqual([0, 1, 2, 7, 15]);
    expect(listed.BlockSize).toBe(524288);
    const seventh = listed.Blocks?.find((block) => block.BlockIndex === 7);
    const read = await ebs.send(
      new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: 7, BlockToken: seventh?.BlockToken }),
    );
    const body = Buffer.from((await read.BlockData?.transformToByteArray()) ?? []);
    expect(body.subarray(0, 40).toString()).toContain('homebound sample volume, block 7');
  });

  it('refuses a --port in use in one line naming the flag (exit 3)', async () => {
    const result = await runCli(['local-cloud', '--dir', join(dir, 'second'), '--port', String(port)]);
    expect(result.code).toBe(3);
    expect(result.stderr.trim()).toBe(
      `homebound: InvalidInputError: --port ${port}: port ${port} on 127.0.0.1 is in use; choose another --port`,
    );
  });

  it('keeps the same sample across restarts on the same --dir', async () => {
    const first = cloud.env.HOMEBOUND_SAMPLE_SNAPSHOT_ID;
    await cloud.stop();
    cloud = await startLocalCloud(['--dir', dir, '--sample-snapshot']);
    expect(cloud.env.HOMEBOUND_SAMPLE_SNAPSHOT_ID).toBe(first);
  });
});
