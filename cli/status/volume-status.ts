import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { createS3Client } from '../../core/adapters/aws/clients.js';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import { INSTANCE_STATES } from '../../core/compute/aws-compute.js';
import { loadState } from '../../core/compute/local-state.js';
import type { HostState } from '../../core/compute/port.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { InvalidInputError } from '../../core/errors.js';
import { readRunRecords, VolumeProgress, type VolumeStatus, volumeStatuses } from '../../core/failback/progress.js';
import { runLayout } from '../../core/failback/run-state.js';
import { DEFAULT_STAGING_BUCKET, startS3Server } from '../../core/localcloud/index.js';
import type { Staging } from '../../core/ports.js';

/**
 * Where `homebound status` reads runs' volumes from: the records in a staging bucket and the hosts' states now.
 * Opened once per command, so `--watch` reads again without connecting again.
 */
export interface VolumeStatusReader {
  /** The bucket holding the runs' records, rooted at `prefix` (`records/<runId>/` for a run's). */
  bucket(prefix?: string): Staging;
  hostStates(hostIds: readonly string[]): Promise<Map<string, HostState>>;
  close(): Promise<void>;
}

/** Every volume's row of the run: its records read now, its hosts described now. */
export async function readVolumeStatuses(reader: VolumeStatusReader, runId: string): Promise<VolumeStatus[]> {
  const records = await readRunRecords(reader.bucket(runLayout.record(runId)));
  const hostIds = [...new Set(records.progress.map((progress) => progress.hostId))];
  return volumeStatuses(records, hostIds.length === 0 ? new Map() : await reader.hostStates(hostIds));
}

/** Runs on AWS: the records in the stack's staging bucket, the takeover hosts from DescribeInstances. */
export function awsVolumeStatusReader(options: {
  bucket: string;
  ec2: EC2Client;
  region?: string;
}): VolumeStatusReader {
  const s3 = createS3Client({ region: options.region, endpoint: process.env.AWS_ENDPOINT_URL_S3 || undefined });
  return {
    bucket: (prefix) => new S3Staging(s3, { bucket: options.bucket, ...(prefix ? { prefix } : {}) }),
    hostStates: (hostIds) => describeInstanceStates(options.ec2, hostIds),
    close: async () => s3.destroy(),
  };
}

/** The EC2 state of each instance (DescribeInstances, read-only); instances EC2 no longer knows are left out. */
export async function describeInstanceStates(ec2: EC2Client, hostIds: readonly string[]) {
  const states = new Map<string, HostState>();
  let nextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [{ Name: 'instance-id', Values: [...hostIds] }],
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
    );
    for (const instance of (page.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? [])) {
      const state = INSTANCE_STATES[instance.State?.Name ?? ''];
      if (instance.InstanceId && state) states.set(instance.InstanceId, state);
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return states;
}

/** The drill's marker in its work dir (cli/drill/work-dir.ts): the run a drill is running there now. */
async function markedRun(workDir: string): Promise<string | undefined> {
  const text = await readFile(join(workDir, 'drill-in-progress.json'), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const runId = (JSON.parse(text) as { runId?: unknown }).runId;
  return typeof runId === 'string' ? runId : undefined;
}

/**
 * A local drill's runs, from its work dir (`homebound drill --work-dir`): the local cloud's S3 directory served by a
 * local S3 server of this process until `close`, and the local compute's records.
 * @throws InvalidInputError when the dir holds no drill's local cloud
 */
export async function localVolumeStatusReader(workDir: string): Promise<VolumeStatusReader> {
  const dir = resolve(workDir);
  const s3Dir = join(dir, 'cloud', 's3');
  if (!(await stat(s3Dir).catch(() => undefined))?.isDirectory()) {
    throw new InvalidInputError(`--work-dir ${workDir} holds no drill's local cloud (no ${s3Dir})`);
  }
  const server = await startS3Server({ directory: s3Dir });
  const s3 = createS3Client({ endpoint: server.endpoint, region: 'us-east-1', credentials: server.credentials });
  return {
    bucket: (prefix) => new S3Staging(s3, { bucket: DEFAULT_STAGING_BUCKET, ...(prefix ? { prefix } : {}) }),
    hostStates: async () => {
      const state = await loadState(join(dir, 'compute'));
      return new Map(Object.entries(state.hosts).map(([hostId, host]) => [hostId, host.state]));
    },
    close: async () => {
      s3.destroy();
      await server.close();
    },
  };
}

/**
 * The local drill's run to show: `runId` if given, else the run a drill is running in `workDir` now, else the newest
 * run with records.
 * @throws InvalidInputError when none is named or found
 */
export async function localRunId(reader: VolumeStatusReader, workDir: string, runId?: string): Promise<string> {
  const chosen = runId ?? (await markedRun(resolve(workDir))) ?? (await newestRun(reader.bucket()));
  if (!chosen) throw new InvalidInputError(`--work-dir ${workDir} has no run with records yet; name the run`);
  return chosen;
}

/** The run whose progress record was written last. */
async function newestRun(bucket: Staging): Promise<string | undefined> {
  const keys = (await bucket.list('records/')).filter((key) => /^records\/[^/]+\/progress\//.test(key));
  let newest: { runId: string; at: string } | undefined;
  for (const key of keys) {
    const progress = parseStagedJson(VolumeProgress, await bucket.get(key), key);
    if (!newest || progress.updatedAt > newest.at) newest = { runId: progress.runId, at: progress.updatedAt };
  }
  return newest?.runId;
}
