import { createHash } from 'node:crypto';
/**
 * The compute port: the EC2 operations the automated failback state machine needs (hosts, volumes, snapshots, tags).
 * Every call is non-blocking as in EC2 — the state machine polls `describeHosts` / `describeSnapshots` from Wait
 * states. Implemented over EC2 (AwsCompute) and over the local cloud (LocalCompute).
 */

export type HostRole = 'takeover' | 'gateway' | 'failback';
export type HostState = 'pending' | 'running' | 'stopping' | 'stopped' | 'terminated';
export type ComputeSnapshotState = 'pending' | 'completed' | 'error';
export type Tags = Readonly<Record<string, string>>;

/** Tag holding a host's role on hosts homebound launches; hosts without it are takeover hosts. */
export const ROLE_TAG = 'homebound:role';

/**
 * Tag on everything homebound creates (target volumes, gateways, failback hosts and their volumes, snapshots) naming
 * the deployment that created it: IAM lets a deployment's functions change only what carries their own value, not
 * another stack's resources in the same account and Region. The adapters add it (see `resourceTags`).
 */
export const STACK_TAG = 'homebound:stack';

/**
 * Tag an operator puts on a disk that survived at home (an EBS volume or snapshot) and on the instance it is attached
 * to, to let one deployment take it over as a seed (`homebound:seed-for=<that deployment's homebound:stack value>`):
 * IAM lets homebound snapshot, stop, detach and tag only what carries it (docs/security.md).
 */
export const SEED_FOR_TAG = 'homebound:seed-for';

/**
 * Tag on failback hosts and their volumes once they are production (`homebound:state=live`, set when the takeover
 * hosts are retired): IAM denies homebound every change to what carries it.
 */
export const STATE_TAG = 'homebound:state';
export const LIVE_STATE = 'live';

export interface HostVolume {
  readonly volumeId: string;
  /** Device name, e.g. `/dev/xvda`. */
  readonly device: string;
  readonly sizeBytes: number;
}

export interface Host {
  readonly hostId: string;
  readonly role: HostRole;
  readonly state: HostState;
  /** Attached volumes, ordered by device name. */
  readonly volumes: readonly HostVolume[];
  readonly tags: Tags;
  /** The instance type (e.g. `m5.large`): an on-prem failback VM gets its vCPUs and memory (describeInstanceType). */
  readonly instanceType?: string;
  /** Its primary private IPv4 address; absent when it has no network interface (a local host launched without one). */
  readonly privateIp?: string;
  readonly subnetId?: string;
  readonly securityGroupIds?: readonly string[];
}

/** A subnet as `describeSubnets` reports it: where a failback host's address must lie. */
export interface Subnet {
  readonly subnetId: string;
  /** Its IPv4 block, e.g. `10.1.2.0/24`. */
  readonly cidr: string;
}

/** The size of an instance type, what an on-prem failback VM is made with. */
export interface InstanceTypeInfo {
  readonly instanceType: string;
  readonly vCpus: number;
  readonly memoryMiB: number;
}

/** Which hosts `describeHosts` returns; both criteria must hold. @default every host */
export interface HostFilter {
  readonly hostIds?: readonly string[];
  /** Hosts in any of these subnets. */
  readonly subnetIds?: readonly string[];
  readonly tag?: { readonly key: string; readonly value: string };
}

export interface VolumeSnapshot {
  readonly volumeId: string;
  readonly snapshotId: string;
}

export interface SnapshotProgress {
  readonly snapshotId: string;
  readonly volumeId: string;
  readonly state: ComputeSnapshotState;
  /** Percent complete, 0–100. */
  readonly progress: number;
  /** The size of the volume it was taken of (EC2 VolumeSize, whole GiB): a volume created from it is at least this. */
  readonly volumeSizeBytes?: number;
}

/** A volume as `findVolumes` reports it. */
export interface VolumeInfo {
  readonly volumeId: string;
  readonly sizeBytes: number;
  /** The host it is attached to; absent when it is attached nowhere (EC2 `available`). */
  readonly attachedTo?: string | undefined;
  /** The device name it is attached at (`describeVolumes` only). */
  readonly device?: string | undefined;
  readonly tags: Tags;
}

/** One snapshot of one volume (EC2 CreateSnapshot), e.g. of a seed volume before homebound writes it. */
export interface SnapshotVolumeRequest {
  readonly volumeId: string;
  readonly description: string;
  readonly tags: Tags;
}

export interface CreateVolumeRequest {
  readonly sizeBytes: number;
  /** Create it holding this snapshot's data (EC2 CreateVolume SnapshotId); `sizeBytes` at least the snapshot's. */
  readonly snapshotId?: string;
  readonly tags?: Tags;
  /** Idempotency token (EC2 ClientToken, at most 64 ASCII characters): a call retried with the same token returns the
   * volume the first one created instead of creating another. See `idempotencyToken`. */
  readonly clientToken?: string;
}

export interface RunInstanceRequest {
  readonly role: HostRole;
  /** Becomes the `Name` tag. */
  readonly name: string;
  readonly tags?: Tags;
  /** Plain text; adapters encode it as the platform needs. */
  readonly userData?: string;
  /** Idempotency token, as for CreateVolumeRequest: a retried launch returns the host the first one launched. */
  readonly clientToken?: string;
  /** @default the adapter's launch settings for the role */
  readonly instanceType?: string;
  /** @default the adapter's launch settings for the role */
  readonly subnetId?: string;
  /** @default the adapter's launch settings for the role */
  readonly securityGroupIds?: readonly string[];
  /** The primary private address, which must be free and usable in the subnet. @default one the subnet assigns */
  readonly privateIp?: string;
}

/**
 * A ClientToken for one resource of one run (`parts`, e.g. run id, "target", volume key): the same parts always give
 * the same token, so a step the state machine retries after a timeout finds what its first attempt created instead of
 * creating a second one. 64 ASCII characters at most, as EC2 requires.
 */
export function idempotencyToken(...parts: readonly string[]): string {
  return `hb-${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 48)}`;
}

/**
 * EC2 as homebound uses it. Throws HostNotFoundError, VolumeNotFoundError, SnapshotNotFoundError naming the missing
 * id, VolumeInUseError, VolumeNotAttachedError, HostStateError, ThrottledError / TransientError (retryable),
 * RequestRejectedError for anything else the platform refuses.
 */
export interface ComputePort {
  /** Hosts matching the filter; an unknown id in `hostIds` throws HostNotFoundError. */
  describeHosts(filter?: HostFilter): Promise<Host[]>;
  /** Crash-consistent snapshots of every volume of the host, taken at one instant; one entry per volume. */
  createSnapshots(hostId: string, tags: Tags): Promise<VolumeSnapshot[]>;
  /** Snapshots carrying every one of `tags`, so a retried CreateSnapshots can find what its first attempt took. */
  findSnapshots(tags: Tags): Promise<VolumeSnapshot[]>;
  /** Throws SnapshotNotFoundError for an unknown id. */
  describeSnapshots(snapshotIds: readonly string[]): Promise<SnapshotProgress[]>;
  /** Idempotent: an id already gone is skipped, so a retried clean-up does not fail on what it deleted before. */
  deleteSnapshots(snapshotIds: readonly string[]): Promise<void>;
  /** An encrypted volume of at least `sizeBytes` (EC2 rounds up to whole GiB); returns its id. */
  createVolume(request: CreateVolumeRequest): Promise<string>;
  /**
   * Volumes carrying every one of `tags` and created by this deployment (the adapter adds its `homebound:stack`
   * tag to the filter), so a run never adopts another stack's volume.
   */
  findVolumes(tags: Tags): Promise<VolumeInfo[]>;
  /**
   * Volumes by id, whoever created them (a seed volume is the operator's, not homebound's), with their attachment.
   * Throws VolumeNotFoundError naming the first unknown id.
   */
  describeVolumes(volumeIds: readonly string[]): Promise<VolumeInfo[]>;
  /** Starts a snapshot of one volume (EC2 CreateSnapshot); returns its id. Poll `describeSnapshots` for completion. */
  snapshotVolume(request: SnapshotVolumeRequest): Promise<string>;
  /**
   * What a seed must carry for this deployment to take it over (`SEED_FOR_TAG` = its stack tag's value); empty where
   * nothing is scoped by tags (a local cloud without resource tags).
   */
  readonly seedOptIn: Tags;
  /**
   * Adds this deployment's resource tags (`homebound:stack`) to a seed volume it takes over, so the rights it has on
   * the target volumes it creates (attach, detach, mark live) apply to it too.
   */
  claimVolume(volumeId: string): Promise<void>;
  /** Throws VolumeInUseError while attached, VolumeNotFoundError. */
  deleteVolume(volumeId: string): Promise<void>;
  /** Launches one host; returns its id. */
  runInstance(request: RunInstanceRequest): Promise<string>;
  startInstances(hostIds: readonly string[]): Promise<void>;
  stopInstances(hostIds: readonly string[]): Promise<void>;
  terminateInstances(hostIds: readonly string[]): Promise<void>;
  /** Already attached to that host at that device: nothing to do (a retried step). Throws VolumeInUseError when it is
   * attached anywhere else. */
  attachVolume(volumeId: string, hostId: string, device: string): Promise<void>;
  /** Throws VolumeNotAttachedError when it is not attached. */
  detachVolume(volumeId: string): Promise<void>;
  /** Adds or replaces tags on hosts, volumes or snapshots. */
  createTags(resourceIds: readonly string[], tags: Tags): Promise<void>;
  /** Removes the tags named `keys` from hosts, volumes or snapshots; a key a resource lacks is skipped. */
  deleteTags(resourceIds: readonly string[], keys: readonly string[]): Promise<void>;
  /**
   * The ARN of a host by its id (no call: the adapter knows its partition, Region and account). The sync gateway
   * writes below its own ARN (core/gateway/scope.ts), so this is where the control plane reads its records.
   */
  instanceArn(hostId: string): string;
  /** vCPUs and memory of an instance type (EC2 DescribeInstanceTypes). Throws UnknownInstanceTypeError. */
  describeInstanceType(instanceType: string): Promise<InstanceTypeInfo>;
  /** The subnets' IPv4 blocks (EC2 DescribeSubnets). Throws SubnetNotFoundError naming the first unknown id. */
  describeSubnets(subnetIds: readonly string[]): Promise<Subnet[]>;
}
