import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type ChangedBlock,
  EBSClient,
  type EBSClientConfig,
  ListChangedBlocksCommand,
  ListSnapshotBlocksCommand,
} from '@aws-sdk/client-ebs';
import { BLOCK_SIZE } from '../../core/blocks.js';
import type { LocalCloudOptions } from '../../core/localcloud/index.js';
import { type LocalCloud, localEbsClientConfig, startLocalCloud } from '../../core/localcloud/index.js';

/** A fresh directory under the OS temp dir; `cleanup` removes it. */
export async function tempDir(
  prefix = 'homebound-localcloud-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A local cloud in a temp dir; `stop` also removes the dir. */
export async function startTestCloud(options: Omit<LocalCloudOptions, 'dir'> = {}): Promise<LocalCloud> {
  const { dir, cleanup } = await tempDir();
  const cloud = await startLocalCloud({ dir, ...options });
  return {
    ...cloud,
    stop: async () => {
      await cloud.stop();
      await cleanup();
    },
  };
}

/** The real SDK client, pointed at the local cloud. */
export function ebsClient(cloud: LocalCloud, extra: Partial<EBSClientConfig> = {}): EBSClient {
  return new EBSClient({ ...localEbsClientConfig(cloud), ...extra });
}

/** Pages ListSnapshotBlocks until NextToken is absent; returns every block and the number of pages. */
export async function listAllBlocks(
  client: EBSClient,
  snapshotId: string,
  maxResults = 100,
): Promise<{ blocks: { index: number; token: string }[]; pages: number; emptyPagesWithToken: number }> {
  const blocks: { index: number; token: string }[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  let emptyPagesWithToken = 0;
  do {
    const page = await client.send(
      new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, MaxResults: maxResults, NextToken: nextToken }),
    );
    pages += 1;
    for (const block of page.Blocks ?? [])
      blocks.push({ index: block.BlockIndex ?? -1, token: block.BlockToken ?? '' });
    if ((page.Blocks ?? []).length === 0 && page.NextToken) emptyPagesWithToken += 1;
    nextToken = page.NextToken;
  } while (nextToken);
  return { blocks, pages, emptyPagesWithToken };
}

/** Pages ListChangedBlocks until NextToken is absent. */
export async function listAllChangedBlocks(
  client: EBSClient,
  firstSnapshotId: string,
  secondSnapshotId: string,
): Promise<ChangedBlock[]> {
  const changed: ChangedBlock[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListChangedBlocksCommand({
        FirstSnapshotId: firstSnapshotId,
        SecondSnapshotId: secondSnapshotId,
        MaxResults: 100,
        NextToken: nextToken,
      }),
    );
    changed.push(...(page.ChangedBlocks ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return changed;
}

/** A 512 KiB block of random bytes. */
export function randomBlock(): Buffer {
  return randomBytes(BLOCK_SIZE);
}

export function sha256Base64(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64');
}

/** The error an SDK call rejects with, or fails the test when it resolves. */
export async function rejectionOf(
  promise: Promise<unknown>,
): Promise<Error & { Reason?: string; $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { Reason?: string };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Hex SHA-256 of some bytes: compare these instead of 512 KiB buffers (deep equality on buffers is slow). */
export function digestOf(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Debian's awscli, an independent client; the pyenv `aws` shim on PATH is another program. */
const AWS_CLI = '/usr/bin/aws';

/**
 * Runs Debian's AWS CLI against the local cloud (`aws <args> --endpoint-url <endpoint>`) and returns its stdout.
 * Nothing from the developer's own AWS setup may leak in: no config or credentials files, no instance metadata.
 */
export async function awsCli(cloud: LocalCloud, endpoint: string, args: readonly string[]): Promise<string> {
  if (!existsSync(AWS_CLI)) {
    throw new Error(`${AWS_CLI} is missing: install Debian's awscli (apt-get update && apt-get install -y awscli)`);
  }
  const { stdout } = await promisify(execFile)(AWS_CLI, [...args, '--endpoint-url', endpoint], {
    env: {
      PATH: '/usr/bin:/bin',
      HOME: cloud.dir,
      ...cloud.env(),
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
    },
  });
  return stdout;
}
