import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { createS3Client } from '../../core/adapters/aws/clients.js';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import { loadState } from '../../core/compute/local-state.js';
import type { HostState } from '../../core/compute/port.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { InvalidInputError } from '../../core/errors.js';
import { readRunRecords, VolumeProgress, type VolumeStatus, volumeStatuses } from '../../core/failback/progress.js';
import { runLayout } from '../../core/failback/run-state.js';
import { DEFAULT_STAGING_BUCKET, startS3Server } from '../../core/localcloud/index.js';
import type { Staging } from '../../core/ports.js';

/** Where `homebound status` reads a run's volumes from: its records, and the hosts' states now. */
export interface VolumeStatusSource {
  readonly runId: string;
  /** The run's record prefix, `records/<runId>/`. */
  readonly records: Staging;
  hostStates(hostIds: readonly string[]): Promise<Map<string, HostState>>;
  close(): Promise<void>;
}

/** Every volume's row: the records read now, the hosts described now. */
export async function collectVolumeStatuses(source: VolumeStatusSource): Promise<VolumeStatus[]> {
  const records = await readRunRecords(source.records);
  const hostIds = [...new Set(records.progress.map((progress) => progress.hostId))];
  return volumeStatuses(records, hostIds.length === 0 ? new Map() : await source.hostStates(hostIds));
}

/** A run on AWS: the records in the stack's staging bucket, the takeover hosts from DescribeInstances. */
export function awsVolumeStatusSource(options: { runId: string; bucket: string; ec2: EC2Client; region?: string }) {
  const s3 = createS3Client({ region: options.region, endpoint: process.env.AWS_ENDPOINT_URL_S3 || undefined });
  return {
    runId: options.runId,
    records: new S3Staging(s3, { bucket: options.bucket, prefix: runLayout.record(options.runId) }),
    hostStates: (hostIds: readonly string[]) => describeInstanceStates(options.ec2, hostIds),
    close: async () => s3.destroy(),
  } satisfies VolumeStatusSource;
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
      const state = instance.State?.Name;
      if (!instance.InstanceId || !state) continue;
      states.set(instance.InstanceId, state === 'shutting-down' ? 'stopping' : (state as HostState));
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
 * A local drill's run, from its work dir (`homebound drill --work-dir`): the local cloud's S3 directory served by a
 * short-lived local S3 server of this process, and the local compute's records. `runId` defaults to the run a drill
 * is running there now, else the newest run with records.
 * @throws InvalidInputError when the dir holds no drill's local cloud, or no run is named or found
 */
export async function localVolumeStatusSource(workDir: string, runId?: string): Promise<VolumeStatusSource> {
  const dir = resolve(workDir);
  const s3Dir = join(dir, 'cloud', 's3');
  if (!(await stat(s3Dir).catch(() => undefined))?.isDirectory()) {
    throw new InvalidInputError(`--work-dir ${workDir} holds no drill's local cloud (no ${s3Dir})`);
  }
  const server = await startS3Server({ directory: s3Dir });
  const s3 = createS3Client({ endpoint: server.endpoint, region: 'us-east-1', credentials: server.credentials });
  const close = async () => {
    s3.destroy();
    await server.close();
  };
  try {
    const bucket = new S3Staging(s3, { bucket: DEFAULT_STAGING_BUCKET });
    const chosen = runId ?? (await markedRun(dir)) ?? (await newestRun(bucket));
    if (!chosen) throw new InvalidInputError(`--work-dir ${workDir} has no run with records yet; name the run`);
    return {
      runId: chosen,
      records: new S3Staging(s3, { bucket: DEFAULT_STAGING_BUCKET, prefix: runLayout.record(chosen) }),
      hostStates: async () => {
        const state = await loadState(join(dir, 'compute'));
        return new Map(Object.entries(state.hosts).map(([hostId, host]) => [hostId, host.state]));
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
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
