import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EBSClient, ListSnapshotBlocksCommand, ResourceNotFoundException } from '@aws-sdk/client-ebs';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '../../bin/homebound.mjs');

describe('homebound local-cloud', () => {
  let dir: string;
  let child: ChildProcess;
  const env: Record<string, string> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hb-lc-'));
    child = spawn(process.execPath, [CLI, 'local-cloud', '--dir', dir, '--bucket', 'first-bucket', 'second-bucket'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`local-cloud exited ${code}`)));
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk;
        for (const line of out.split('\n')) {
          const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
          if (match?.[1] && match[2] !== undefined) env[match[1]] = match[2];
        }
        if (env.AWS_REGION) resolve();
      });
    });
  });

  afterAll(async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('exit', resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('prints one KEY=value line per endpoint and credential', () => {
    for (const key of [
      'AWS_ACCESS_KEY_ID',
      'AWS_ENDPOINT_URL_EBS',
      'AWS_ENDPOINT_URL_S3',
      'AWS_REGION',
      'AWS_SECRET_ACCESS_KEY',
    ]) {
      expect(env[key], key).toBeTruthy();
    }
    expect(env.AWS_ENDPOINT_URL_EBS).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('serves the unmodified SDK clients configured from those lines alone', async () => {
    const credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID ?? '', secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '' };
    const s3 = new S3Client({
      endpoint: env.AWS_ENDPOINT_URL_S3,
      region: env.AWS_REGION,
      credentials,
      forcePathStyle: true,
    });
    const buckets = await s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((b) => b.Name).sort()).toEqual(['first-bucket', 'second-bucket']);

    const ebs = new EBSClient({ endpoint: env.AWS_ENDPOINT_URL_EBS, region: env.AWS_REGION, credentials });
    await expect(
      ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: 'snap-00000000000000000' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });
});
