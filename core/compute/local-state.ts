import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { RequestRejectedError } from '../errors.js';

/**
 * The local compute adapter's records: hosts and volumes in one JSON file under the state dir, replaced atomically
 * (temp file, fsync, rename) so a crash leaves either the old or the new state, never half of one.
 */

const tagsSchema = z.record(z.string(), z.string());

const hostSchema = z.object({
  hostId: z.string(),
  role: z.enum(['takeover', 'gateway', 'failback']),
  name: z.string(),
  state: z.enum(['pending', 'running', 'stopping', 'stopped', 'terminated']),
  tags: tagsSchema,
  userData: z.string().optional(),
  /** Takeover hosts: the instance type they stand for (core/compute/instance-types.ts). */
  instanceType: z.string().optional(),
  /** Its subnet and primary address (core/compute/local-network.ts); absent: a host without a network. */
  subnetId: z.string().optional(),
  privateIp: z.string().optional(),
  securityGroupIds: z.array(z.string()).optional(),
  /** Takeover hosts of drills and tests: the write load they run while `running`. */
  workload: z.object({ writesPerSecond: z.number().nonnegative(), seed: z.number().int() }).optional(),
});

const volumeSchema = z.object({
  volumeId: z.string(),
  sizeBytes: z.number().int().positive(),
  tags: tagsSchema,
  attachment: z.object({ hostId: z.string(), device: z.string() }).optional(),
  /** The volume's latest snapshot: the parent of its next one, so incremental passes share lineage. */
  lastSnapshotId: z.string().optional(),
});

const stateSchema = z.object({
  version: z.literal(1),
  hosts: z.record(z.string(), hostSchema),
  volumes: z.record(z.string(), volumeSchema),
  /** Tags added to snapshots with createTags (the snapshot store's own tags are fixed at creation). */
  snapshotTags: z.record(z.string(), tagsSchema),
  /** Subnets made with `createSubnet`: where hosts may be launched, and the block their addresses come from. */
  subnets: z.record(z.string(), z.object({ subnetId: z.string(), cidr: z.string() })).default({}),
  /** ClientTokens of volumes and hosts created with one: the resource's id and the request it was created for. */
  clientTokens: z.record(z.string(), z.object({ id: z.string(), request: z.string() })).default({}),
});

export type HostRecord = z.infer<typeof hostSchema>;
export type VolumeRecord = z.infer<typeof volumeSchema>;
export type ComputeState = z.infer<typeof stateSchema>;

export function statePath(stateDir: string): string {
  return join(stateDir, 'compute.json');
}

export function volumePath(stateDir: string, volumeId: string): string {
  return join(stateDir, 'volumes', `${volumeId}.img`);
}

/** Loads the state, or an empty one when the file does not exist yet. */
export async function loadState(stateDir: string): Promise<ComputeState> {
  const text = await readFile(statePath(stateDir), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (text === undefined) {
    return { version: 1, hosts: {}, volumes: {}, snapshotTags: {}, subnets: {}, clientTokens: {} };
  }
  return stateSchema.parse(JSON.parse(text));
}

export async function saveState(stateDir: string, state: ComputeState): Promise<void> {
  const path = statePath(stateDir);
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(JSON.stringify(state, null, 2));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

/**
 * The resource an earlier call with `clientToken` created, as EC2 answers a retried call; undefined for a new token.
 * @throws RequestRejectedError (EC2's IdempotentParameterMismatch) when the token was used for a different request.
 */
export function createdFor(state: ComputeState, clientToken: string | undefined, request: string): string | undefined {
  if (clientToken === undefined) return undefined;
  const known = state.clientTokens[clientToken];
  if (known && known.request !== request) {
    throw new RequestRejectedError(
      `IdempotentParameterMismatch: client token ${clientToken} was used for another request`,
    );
  }
  return known?.id;
}

/**
 * The ARN of a local host, as EC2 would name it (the local cloud's Region, the all-zero account): the local gateway
 * gets it as `--instance-arn` and writes below it, as an EC2 gateway writes below `${ec2:SourceInstanceARN}`.
 */
export function localInstanceArn(hostId: string): string {
  return `arn:aws:ec2:us-east-1:000000000000:instance/${hostId}`;
}

/** An EC2-style id: `prefix-` + 17 hex characters. */
export function newResourceId(prefix: 'i' | 'vol' | 'subnet'): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}
