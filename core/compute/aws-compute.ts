import {
  type _InstanceType,
  AttachVolumeCommand,
  type BlockDeviceMapping,
  CreateSnapshotCommand,
  CreateSnapshotsCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeSnapshotsCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  type DescribeVolumesCommandInput,
  DetachVolumeCommand,
  type EC2Client,
  type Filter,
  type Instance,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  type Tag,
  type TagSpecification,
  TerminateInstancesCommand,
  type Volume,
} from '@aws-sdk/client-ec2';
import { InvalidInputError, RequestRejectedError, SnapshotNotFoundError, VolumeNotFoundError } from '../errors.js';
import { type Ec2CallContext, mapEc2Error } from './aws-compute-errors.js';
import { HostNotFoundError, SubnetNotFoundError, UnknownInstanceTypeError, VolumeInUseError } from './errors.js';
import type {
  ComputePort,
  ComputeSnapshotState,
  CreateVolumeRequest,
  Host,
  HostFilter,
  HostRole,
  HostState,
  InstanceTypeInfo,
  RunInstanceRequest,
  SnapshotProgress,
  SnapshotVolumeRequest,
  Subnet,
  Tags,
  VolumeInfo,
  VolumeSnapshot,
} from './port.js';
import { ROLE_TAG, SEED_FOR_TAG, STACK_TAG } from './port.js';

const GiB = 1024 ** 3;
const DESCRIBE_VOLUMES_BATCH = 200;

/**
 * IMDSv2 response hop limit by role: 1 keeps the gateway's credentials from anything but the host itself (it runs no
 * containers); failback hosts run the customer's workload, which may run containers that need one more hop (AWS's
 * recommendation for containers, and what Amazon Linux 2023 images default to). IAM enforces both (lib/).
 */
export const METADATA_HOP_LIMITS: Readonly<Record<HostRole, number>> = { gateway: 1, failback: 2, takeover: 1 };

/** How hosts are launched. */
export interface LaunchSettings {
  readonly imageId: string;
  readonly instanceType: _InstanceType;
  readonly subnetId: string;
  /** @default the subnet's VPC default security group */
  readonly securityGroupIds?: readonly string[];
  /** @default none */
  readonly iamInstanceProfileArn?: string;
  /**
   * KMS key of the volumes a host launches with: every EBS mapping of its image is launched encrypted, whatever the
   * image's snapshots are. @default the account's default EBS key
   */
  readonly volumeKmsKeyId?: string;
}

export interface AwsComputeOptions {
  /** Where new volumes are created; the gateway's subnet must be in the same zone. */
  readonly availabilityZone: string;
  readonly launch: LaunchSettings;
  /** Per-role overrides of `launch`, e.g. a different instance type for sync gateways. @default none */
  readonly launchByRole?: Readonly<Partial<Record<HostRole, Partial<LaunchSettings>>>>;
  /** KMS key for new volumes. @default the account's default EBS key */
  readonly kmsKeyId?: string;
  /**
   * Tags on every resource this adapter creates (volumes, hosts and their volumes, snapshots), over the request's own:
   * the deployment's `homebound:stack`, which IAM requires on create and checks on every later change. @default none
   */
  readonly resourceTags?: Tags;
  /**
   * `arn:<partition>:ec2:<region>:<account>:instance/` of the account and Region the client works in: with a host id,
   * the ARN IAM sees as `${ec2:SourceInstanceARN}` on that instance's requests (core/gateway/scope.ts).
   */
  readonly instanceArnPrefix: string;
}

/** EC2's instance state names as the compute port's host states. */
export const INSTANCE_STATES: Readonly<Record<string, HostState>> = {
  pending: 'pending',
  running: 'running',
  'shutting-down': 'stopping',
  stopping: 'stopping',
  stopped: 'stopped',
  terminated: 'terminated',
};

/**
 * The compute port over EC2. Volumes are created encrypted gp3 in `availabilityZone`; hosts are launched from
 * `launch` with IMDSv2 required (hop limit by role, METADATA_HOP_LIMITS), every EBS volume of the image encrypted, and
 * tagged with their role (`homebound:role`) and Name; everything created also carries `resourceTags`. Errors are
 * mapped by `mapEc2Error`.
 */
export class AwsCompute implements ComputePort {
  /** Each image's EBS mappings, looked up once: an image's mappings never change. */
  private readonly imageMappings = new Map<string, readonly BlockDeviceMapping[]>();

  constructor(
    private readonly ec2: EC2Client,
    private readonly options: AwsComputeOptions,
  ) {}

  instanceArn(hostId: string): string {
    return this.options.instanceArnPrefix + hostId;
  }

  async describeHosts(filter: HostFilter = {}): Promise<Host[]> {
    const filters: Filter[] = [
      ...(filter.tag ? [{ Name: `tag:${filter.tag.key}`, Values: [filter.tag.value] }] : []),
      ...(filter.subnetIds ? [{ Name: 'subnet-id', Values: [...filter.subnetIds] }] : []),
    ];
    const instances: Instance[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.call('DescribeInstances', filter.hostIds, () =>
        this.ec2.send(
          new DescribeInstancesCommand({
            ...(filter.hostIds ? { InstanceIds: [...filter.hostIds] } : {}),
            ...(filters.length > 0 ? { Filters: filters } : {}),
            NextToken: nextToken,
          }),
        ),
      );
      for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    // EC2 answers an id it knows but that the tag filter excludes with nothing; only an absent id is an error.
    for (const hostId of filter.tag || filter.subnetIds ? [] : (filter.hostIds ?? [])) {
      if (!instances.some((instance) => instance.InstanceId === hostId)) throw new HostNotFoundError(hostId);
    }
    const sizes = await this.volumeSizes(
      instances.flatMap((i) => (i.BlockDeviceMappings ?? []).flatMap((m) => m.Ebs?.VolumeId ?? [])),
    );
    return instances.map((instance) => toHost(instance, sizes));
  }

  async createSnapshots(hostId: string, tags: Tags): Promise<VolumeSnapshot[]> {
    const result = await this.call('CreateSnapshots', [hostId], () =>
      this.ec2.send(
        new CreateSnapshotsCommand({
          InstanceSpecification: { InstanceId: hostId, ExcludeBootVolume: false },
          CopyTagsFromSource: 'volume',
          TagSpecifications: tagSpecifications('snapshot', { ...tags, ...this.options.resourceTags }),
          Description: `homebound crash-consistent snapshot of ${hostId}`,
        }),
      ),
    );
    return (result.Snapshots ?? []).flatMap((s) =>
      s.SnapshotId && s.VolumeId ? [{ snapshotId: s.SnapshotId, volumeId: s.VolumeId }] : [],
    );
  }

  async findSnapshots(tags: Tags): Promise<VolumeSnapshot[]> {
    const filters = Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] }));
    const found: VolumeSnapshot[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.call('DescribeSnapshots', [], () =>
        this.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filters, NextToken: nextToken })),
      );
      for (const s of page.Snapshots ?? []) {
        if (s.SnapshotId && s.VolumeId) found.push({ snapshotId: s.SnapshotId, volumeId: s.VolumeId });
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return found;
  }

  async describeSnapshots(snapshotIds: readonly string[]): Promise<SnapshotProgress[]> {
    if (snapshotIds.length === 0) return [];
    const found: SnapshotProgress[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.call('DescribeSnapshots', snapshotIds, () =>
        this.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [...snapshotIds], NextToken: nextToken })),
      );
      for (const s of page.Snapshots ?? []) {
        found.push({
          snapshotId: s.SnapshotId ?? '?',
          volumeId: s.VolumeId ?? '?',
          state: snapshotState(s.State),
          progress: Number.parseInt(s.Progress ?? '0', 10) || 0,
          ...(s.VolumeSize === undefined ? {} : { volumeSizeBytes: s.VolumeSize * GiB }),
        });
      }
      nextToken = page.NextToken;
    } while (nextToken);
    const missing = snapshotIds.find((id) => !found.some((s) => s.snapshotId === id));
    if (missing !== undefined) throw new SnapshotNotFoundError(missing);
    return found;
  }

  async deleteSnapshots(snapshotIds: readonly string[]): Promise<void> {
    for (const snapshotId of snapshotIds) {
      try {
        await this.call('DeleteSnapshot', [snapshotId], () =>
          this.ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })),
        );
      } catch (error) {
        if (!(error instanceof SnapshotNotFoundError)) throw error;
      }
    }
  }

  async createVolume(request: CreateVolumeRequest): Promise<string> {
    if (!Number.isSafeInteger(request.sizeBytes) || request.sizeBytes <= 0) {
      throw new InvalidInputError(`volume size must be a positive whole number of bytes, got ${request.sizeBytes}`);
    }
    const result = await this.call('CreateVolume', [], () =>
      this.ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: this.options.availabilityZone,
          Size: Math.ceil(request.sizeBytes / GiB),
          VolumeType: 'gp3',
          Encrypted: true,
          ...(this.options.kmsKeyId ? { KmsKeyId: this.options.kmsKeyId } : {}),
          TagSpecifications: tagSpecifications('volume', { ...request.tags, ...this.options.resourceTags }),
          ...(request.clientToken ? { ClientToken: request.clientToken } : {}),
          ...(request.snapshotId ? { SnapshotId: request.snapshotId } : {}),
        }),
      ),
    );
    if (!result.VolumeId) throw new Error('EC2 CreateVolume returned no VolumeId');
    return result.VolumeId;
  }

  get seedOptIn(): Tags {
    const stack = this.options.resourceTags?.[STACK_TAG];
    return stack === undefined ? {} : { [SEED_FOR_TAG]: stack };
  }

  async claimVolume(volumeId: string): Promise<void> {
    const tags = this.options.resourceTags ?? {};
    if (Object.keys(tags).length > 0) await this.createTags([volumeId], tags);
  }

  async describeVolumes(volumeIds: readonly string[]): Promise<VolumeInfo[]> {
    if (volumeIds.length === 0) return [];
    const found = await this.volumesWhere({ volumeIds });
    return volumeIds.map((volumeId) => {
      const volume = found.find((candidate) => candidate.volumeId === volumeId);
      if (!volume) throw new VolumeNotFoundError(volumeId);
      return volume;
    });
  }

  async snapshotVolume(request: SnapshotVolumeRequest): Promise<string> {
    const result = await this.call('CreateSnapshot', [request.volumeId], () =>
      this.ec2.send(
        new CreateSnapshotCommand({
          VolumeId: request.volumeId,
          Description: request.description,
          TagSpecifications: tagSpecifications('snapshot', { ...request.tags, ...this.options.resourceTags }),
        }),
      ),
    );
    if (!result.SnapshotId) throw new Error('EC2 CreateSnapshot returned no SnapshotId');
    return result.SnapshotId;
  }

  async deleteVolume(volumeId: string): Promise<void> {
    await this.call('DeleteVolume', [volumeId], () => this.ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId })));
  }

  /** The role's launch settings, then what the request sets itself (a failback host's own type, subnet, groups). */
  async runInstance(request: RunInstanceRequest): Promise<string> {
    const launch: LaunchSettings = {
      ...this.options.launch,
      ...this.options.launchByRole?.[request.role],
      ...(request.instanceType ? { instanceType: request.instanceType as _InstanceType } : {}),
      ...(request.subnetId ? { subnetId: request.subnetId } : {}),
      ...(request.securityGroupIds ? { securityGroupIds: request.securityGroupIds } : {}),
    };
    const tags = { ...request.tags, Name: request.name, [ROLE_TAG]: request.role, ...this.options.resourceTags };
    const blockDeviceMappings = await this.encryptedMappings(launch);
    const result = await this.call('RunInstances', [], () =>
      this.ec2.send(
        new RunInstancesCommand({
          ImageId: launch.imageId,
          InstanceType: launch.instanceType,
          SubnetId: launch.subnetId,
          ...(request.privateIp ? { PrivateIpAddress: request.privateIp } : {}),
          ...(launch.securityGroupIds ? { SecurityGroupIds: [...launch.securityGroupIds] } : {}),
          ...(launch.iamInstanceProfileArn ? { IamInstanceProfile: { Arn: launch.iamInstanceProfileArn } } : {}),
          MinCount: 1,
          MaxCount: 1,
          ...(blockDeviceMappings.length > 0 ? { BlockDeviceMappings: blockDeviceMappings } : {}),
          MetadataOptions: {
            HttpTokens: 'required',
            HttpEndpoint: 'enabled',
            HttpPutResponseHopLimit: METADATA_HOP_LIMITS[request.role],
          },
          ...(request.userData === undefined
            ? {}
            : { UserData: Buffer.from(request.userData, 'utf8').toString('base64') }),
          TagSpecifications: [...tagSpecifications('instance', tags), ...tagSpecifications('volume', tags)],
          ...(request.clientToken ? { ClientToken: request.clientToken } : {}),
        }),
      ),
    );
    const hostId = result.Instances?.[0]?.InstanceId;
    if (!hostId) throw new Error('EC2 RunInstances returned no instance');
    return hostId;
  }

  /**
   * The image's EBS mappings (its root and any data volumes), each overridden to be encrypted with the launch's key:
   * an unencrypted image would otherwise give the host unencrypted volumes (and IAM refuses those, lib/). Size, type
   * and snapshot stay the image's.
   */
  private async encryptedMappings(launch: LaunchSettings): Promise<BlockDeviceMapping[]> {
    let mappings = this.imageMappings.get(launch.imageId);
    if (!mappings) {
      const result = await this.call('DescribeImages', [launch.imageId], () =>
        this.ec2.send(new DescribeImagesCommand({ ImageIds: [launch.imageId] })),
      );
      const image = result.Images?.[0];
      if (!image) throw new RequestRejectedError(`EC2 DescribeImages: image ${launch.imageId} not found`);
      mappings = (image.BlockDeviceMappings ?? []).filter((mapping) => mapping.Ebs && mapping.DeviceName);
      this.imageMappings.set(launch.imageId, mappings);
    }
    return mappings.map((mapping) => ({
      DeviceName: mapping.DeviceName,
      Ebs: { Encrypted: true, ...(launch.volumeKmsKeyId ? { KmsKeyId: launch.volumeKmsKeyId } : {}) },
    }));
  }

  async startInstances(hostIds: readonly string[]): Promise<void> {
    await this.call('StartInstances', hostIds, () =>
      this.ec2.send(new StartInstancesCommand({ InstanceIds: [...hostIds] })),
    );
  }

  async stopInstances(hostIds: readonly string[]): Promise<void> {
    await this.call('StopInstances', hostIds, () =>
      this.ec2.send(new StopInstancesCommand({ InstanceIds: [...hostIds] })),
    );
  }

  async terminateInstances(hostIds: readonly string[]): Promise<void> {
    await this.call('TerminateInstances', hostIds, () =>
      this.ec2.send(new TerminateInstancesCommand({ InstanceIds: [...hostIds] })),
    );
  }

  async attachVolume(volumeId: string, hostId: string, device: string): Promise<void> {
    try {
      await this.call('AttachVolume', [volumeId, hostId], () =>
        this.ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: hostId, Device: device })),
      );
    } catch (error) {
      if (error instanceof VolumeInUseError && (await this.isAttachedAt(volumeId, hostId, device))) return;
      throw error;
    }
  }

  /** Whether the volume is attached (or attaching) to `hostId` at `device`: what a first attempt left behind. */
  private async isAttachedAt(volumeId: string, hostId: string, device: string): Promise<boolean> {
    const page = await this.call('DescribeVolumes', [volumeId], () =>
      this.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })),
    );
    return (page.Volumes?.[0]?.Attachments ?? []).some(
      (a) => a.InstanceId === hostId && a.Device === device && (a.State === 'attaching' || a.State === 'attached'),
    );
  }

  async detachVolume(volumeId: string): Promise<void> {
    await this.call('DetachVolume', [volumeId], () => this.ec2.send(new DetachVolumeCommand({ VolumeId: volumeId })));
  }

  async createTags(resourceIds: readonly string[], tags: Tags): Promise<void> {
    await this.call('CreateTags', resourceIds, () =>
      this.ec2.send(new CreateTagsCommand({ Resources: [...resourceIds], Tags: toTagList(tags) })),
    );
  }

  async deleteTags(resourceIds: readonly string[], keys: readonly string[]): Promise<void> {
    if (resourceIds.length === 0 || keys.length === 0) return;
    await this.call('DeleteTags', resourceIds, () =>
      this.ec2.send(new DeleteTagsCommand({ Resources: [...resourceIds], Tags: keys.map((Key) => ({ Key })) })),
    );
  }

  async findVolumes(tags: Tags): Promise<VolumeInfo[]> {
    const wanted = { ...tags, ...this.options.resourceTags };
    const filters = Object.entries(wanted).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] }));
    return this.volumesWhere({ filters });
  }

  private async volumeSizes(volumeIds: readonly string[]): Promise<Map<string, number>> {
    const found = await this.volumesWhere({ volumeIds });
    return new Map(found.map((volume) => [volume.volumeId, volume.sizeBytes]));
  }

  /** Every volume DescribeVolumes finds by these ids (in batches EC2 accepts) or these filters, all pages. */
  private async volumesWhere(
    where: { readonly volumeIds: readonly string[] } | { readonly filters: Filter[] },
  ): Promise<VolumeInfo[]> {
    const queries: { ids: string[]; input: DescribeVolumesCommandInput }[] = [];
    if ('filters' in where) queries.push({ ids: [], input: { Filters: where.filters } });
    else {
      for (let i = 0; i < where.volumeIds.length; i += DESCRIBE_VOLUMES_BATCH) {
        const ids = where.volumeIds.slice(i, i + DESCRIBE_VOLUMES_BATCH);
        queries.push({ ids, input: { VolumeIds: ids } });
      }
    }
    const found: VolumeInfo[] = [];
    for (const { ids, input } of queries) {
      let nextToken: string | undefined;
      do {
        const page = await this.call('DescribeVolumes', ids, () =>
          this.ec2.send(new DescribeVolumesCommand({ ...input, NextToken: nextToken })),
        );
        for (const volume of page.Volumes ?? []) {
          const info = volumeInfoOf(volume);
          if (info) found.push(info);
        }
        nextToken = page.NextToken;
      } while (nextToken);
    }
    return found;
  }

  async describeInstanceType(instanceType: string): Promise<InstanceTypeInfo> {
    const page = await this.call('DescribeInstanceTypes', [], () =>
      this.ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as _InstanceType] })),
    ).catch((error: unknown) => {
      // EC2 answers an unknown type with InvalidInstanceType, mapped to a rejection naming nothing.
      if (error instanceof RequestRejectedError) throw new UnknownInstanceTypeError(instanceType, { cause: error });
      throw error;
    });
    const info = page.InstanceTypes?.[0];
    const vCpus = info?.VCpuInfo?.DefaultVCpus;
    const memoryMiB = info?.MemoryInfo?.SizeInMiB;
    if (vCpus === undefined || memoryMiB === undefined) throw new UnknownInstanceTypeError(instanceType);
    return { instanceType, vCpus, memoryMiB };
  }

  async describeSubnets(subnetIds: readonly string[]): Promise<Subnet[]> {
    if (subnetIds.length === 0) return [];
    const found: Subnet[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.call('DescribeSubnets', subnetIds, () =>
        this.ec2.send(new DescribeSubnetsCommand({ SubnetIds: [...subnetIds], NextToken: nextToken })),
      );
      for (const subnet of page.Subnets ?? []) {
        if (subnet.SubnetId && subnet.CidrBlock) found.push({ subnetId: subnet.SubnetId, cidr: subnet.CidrBlock });
      }
      nextToken = page.NextToken;
    } while (nextToken);
    const missing = subnetIds.find((id) => !found.some((subnet) => subnet.subnetId === id));
    if (missing !== undefined) throw new SubnetNotFoundError(missing);
    return found;
  }

  private async call<T>(operation: string, ids: readonly string[] | undefined, send: () => Promise<T>): Promise<T> {
    const context: Ec2CallContext = { operation, ids: ids ?? [] };
    try {
      return await send();
    } catch (error) {
      throw mapEc2Error(error, context);
    }
  }
}

function toHost(instance: Instance, sizes: ReadonlyMap<string, number>): Host {
  const tags = fromTagList(instance.Tags);
  const role = tags[ROLE_TAG];
  return {
    hostId: instance.InstanceId ?? '?',
    role: role === 'gateway' || role === 'failback' ? role : 'takeover',
    ...(instance.InstanceType ? { instanceType: instance.InstanceType } : {}),
    ...(instance.PrivateIpAddress ? { privateIp: instance.PrivateIpAddress } : {}),
    ...(instance.SubnetId ? { subnetId: instance.SubnetId } : {}),
    ...(instance.SecurityGroups
      ? { securityGroupIds: instance.SecurityGroups.flatMap((group) => group.GroupId ?? []) }
      : {}),
    state: INSTANCE_STATES[instance.State?.Name ?? ''] ?? 'pending',
    volumes: (instance.BlockDeviceMappings ?? [])
      .flatMap((mapping) => {
        const volumeId = mapping.Ebs?.VolumeId;
        if (!volumeId) return [];
        return [{ volumeId, device: mapping.DeviceName ?? '?', sizeBytes: sizes.get(volumeId) ?? 0 }];
      })
      .sort((a, b) => a.device.localeCompare(b.device)),
    tags,
  };
}

function snapshotState(state: string | undefined): ComputeSnapshotState {
  if (state === 'completed' || state === 'error') return state;
  return 'pending'; // pending, and the archive states recovering/recoverable: not readable yet
}

function tagSpecifications(resourceType: 'instance' | 'volume' | 'snapshot', tags: Tags): TagSpecification[] {
  const list = toTagList(tags);
  return list.length === 0 ? [] : [{ ResourceType: resourceType, Tags: list }];
}

function toTagList(tags: Tags): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function fromTagList(tags: readonly Tag[] | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) record[tag.Key] = tag.Value ?? '';
  return record;
}

/** What the port tells of an EC2 volume: size, the instance it is attached (or attaching) to, and its tags. */
function volumeInfoOf(volume: Volume): VolumeInfo | undefined {
  if (!volume.VolumeId) return undefined;
  const attachment = (volume.Attachments ?? []).find((a) => a.State === 'attaching' || a.State === 'attached');
  return {
    volumeId: volume.VolumeId,
    sizeBytes: (volume.Size ?? 0) * GiB,
    ...(attachment?.InstanceId ? { attachedTo: attachment.InstanceId, device: attachment.Device } : {}),
    tags: fromTagList(volume.Tags),
  };
}
