import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateSnapshotsCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  EC2Client,
  EC2ServiceException,
  RunInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AwsCompute } from '../../core/compute/aws-compute.js';
import {
  HostNotFoundError,
  HostStateError,
  SubnetNotFoundError,
  VolumeInUseError,
  VolumeNotAttachedError,
} from '../../core/compute/errors.js';
import { SnapshotNotFoundError, ThrottledError, TransientError, VolumeNotFoundError } from '../../core/errors.js';

const GiB = 1024 ** 3;
const ec2Mock = mockClient(EC2Client);
const INSTANCE_ARN_PREFIX = 'arn:aws:ec2:eu-west-1:111122223333:instance/';

function compute(): AwsCompute {
  return new AwsCompute(new EC2Client({ region: 'eu-west-1' }), {
    instanceArnPrefix: INSTANCE_ARN_PREFIX,
    availabilityZone: 'eu-west-1a',
    launch: { imageId: 'ami-0123456789abcdef0', instanceType: 'm7i.large', subnetId: 'subnet-1' },
    launchByRole: { gateway: { instanceType: 'c7i.xlarge' } },
  });
}

function ec2Error(name: string, message: string, status = 400): EC2ServiceException {
  return new EC2ServiceException({
    name,
    message,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

/** An image with an EBS root, an EBS data mapping and an instance-store one (which takes no encryption). */
const IMAGE = {
  ImageId: 'ami-0123456789abcdef0',
  RootDeviceName: '/dev/xvda',
  BlockDeviceMappings: [
    { DeviceName: '/dev/xvda', Ebs: { SnapshotId: 'snap-root', VolumeSize: 8, Encrypted: false } },
    { DeviceName: '/dev/sdb', VirtualName: 'ephemeral0' },
    { DeviceName: '/dev/sdc', Ebs: { SnapshotId: 'snap-data', VolumeSize: 20 } },
  ],
};

beforeEach(() => {
  ec2Mock.on(DescribeImagesCommand).resolves({ Images: [IMAGE] });
});

afterEach(() => {
  ec2Mock.reset();
});

describe('AwsCompute requests', () => {
  it('creates encrypted gp3 volumes sized up to whole GiB in the configured zone', async () => {
    ec2Mock.on(CreateVolumeCommand).resolves({ VolumeId: 'vol-0aaaaaaaaaaaaaaaa' });

    const volumeId = await compute().createVolume({ sizeBytes: 10 * GiB + 1, tags: { run: 'r1' } });

    expect(volumeId).toBe('vol-0aaaaaaaaaaaaaaaa');
    expect(ec2Mock.commandCalls(CreateVolumeCommand)[0]?.args[0].input).toEqual({
      AvailabilityZone: 'eu-west-1a',
      Size: 11,
      VolumeType: 'gp3',
      Encrypted: true,
      TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'run', Value: 'r1' }] }],
    });
  });

  it('snapshots all of a host’s volumes in one crash-consistent CreateSnapshots call', async () => {
    ec2Mock.on(CreateSnapshotsCommand).resolves({
      Snapshots: [
        { SnapshotId: 'snap-1', VolumeId: 'vol-1' },
        { SnapshotId: 'snap-2', VolumeId: 'vol-2' },
      ],
    });

    const snapshots = await compute().createSnapshots('i-0123', { pass: '2' });

    expect(snapshots).toEqual([
      { snapshotId: 'snap-1', volumeId: 'vol-1' },
      { snapshotId: 'snap-2', volumeId: 'vol-2' },
    ]);
    const input = ec2Mock.commandCalls(CreateSnapshotsCommand)[0]?.args[0].input;
    expect(input?.InstanceSpecification).toEqual({ InstanceId: 'i-0123', ExcludeBootVolume: false });
    expect(input?.CopyTagsFromSource).toBe('volume');
    expect(input?.TagSpecifications).toEqual([{ ResourceType: 'snapshot', Tags: [{ Key: 'pass', Value: '2' }] }]);
  });

  it('describes hosts with role, state and volume sizes across pages', async () => {
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({
        Reservations: [
          {
            Instances: [
              {
                InstanceId: 'i-1',
                State: { Name: 'running' },
                Tags: [{ Key: 'Name', Value: 'db' }],
                BlockDeviceMappings: [
                  { DeviceName: '/dev/xvdb', Ebs: { VolumeId: 'vol-b' } },
                  { DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-a' } },
                ],
              },
            ],
          },
        ],
        NextToken: 'page-2',
      })
      .resolvesOnce({
        Reservations: [
          {
            Instances: [
              {
                InstanceId: 'i-2',
                State: { Name: 'shutting-down' },
                Tags: [{ Key: 'homebound:role', Value: 'gateway' }],
              },
            ],
          },
        ],
      });
    ec2Mock.on(DescribeVolumesCommand).resolves({
      Volumes: [
        { VolumeId: 'vol-a', Size: 8 },
        { VolumeId: 'vol-b', Size: 100 },
      ],
    });

    const hosts = await compute().describeHosts({ tag: { key: 'run', value: 'r1' } });

    expect(hosts).toEqual([
      {
        hostId: 'i-1',
        role: 'takeover',
        state: 'running',
        tags: { Name: 'db' },
        volumes: [
          { volumeId: 'vol-a', device: '/dev/xvda', sizeBytes: 8 * GiB },
          { volumeId: 'vol-b', device: '/dev/xvdb', sizeBytes: 100 * GiB },
        ],
      },
      { hostId: 'i-2', role: 'gateway', state: 'stopping', tags: { 'homebound:role': 'gateway' }, volumes: [] },
    ]);
    const calls = ec2Mock.commandCalls(DescribeInstancesCommand);
    expect(calls[0]?.args[0].input.Filters).toEqual([{ Name: 'tag:run', Values: ['r1'] }]);
    expect(calls[1]?.args[0].input.NextToken).toBe('page-2');
  });

  it('launches one host with base64 user data, IMDSv2, its role tag and per-role settings', async () => {
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0new' }] });

    const hostId = await compute().runInstance({
      role: 'gateway',
      name: 'gw-1',
      tags: { run: 'r1' },
      userData: '#!/bin/sh',
    });

    expect(hostId).toBe('i-0new');
    const input = ec2Mock.commandCalls(RunInstancesCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      ImageId: 'ami-0123456789abcdef0',
      InstanceType: 'c7i.xlarge',
      SubnetId: 'subnet-1',
      MinCount: 1,
      MaxCount: 1,
      UserData: Buffer.from('#!/bin/sh').toString('base64'),
      MetadataOptions: { HttpTokens: 'required' },
    });
    expect(input?.TagSpecifications?.[0]).toEqual({
      ResourceType: 'instance',
      Tags: [
        { Key: 'run', Value: 'r1' },
        { Key: 'Name', Value: 'gw-1' },
        { Key: 'homebound:role', Value: 'gateway' },
      ],
    });
  });

  it('sends each role its security groups and IMDSv2 hop limit: 1 for gateways, 2 for failback hosts', async () => {
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0new' }] });
    const byRole = new AwsCompute(new EC2Client({ region: 'eu-west-1' }), {
      instanceArnPrefix: INSTANCE_ARN_PREFIX,
      availabilityZone: 'eu-west-1a',
      launch: { imageId: 'ami-0', instanceType: 'm7i.large', subnetId: 'subnet-1', securityGroupIds: ['sg-0app'] },
      launchByRole: { gateway: { securityGroupIds: ['sg-0gateway'] } },
    });

    await byRole.runInstance({ role: 'gateway', name: 'gw' });
    await byRole.runInstance({ role: 'failback', name: 'db-failback' });

    const [gateway, failback] = ec2Mock.commandCalls(RunInstancesCommand).map((call) => call.args[0].input);
    expect(gateway?.SecurityGroupIds).toEqual(['sg-0gateway']);
    expect(gateway?.MetadataOptions).toEqual({
      HttpTokens: 'required',
      HttpEndpoint: 'enabled',
      HttpPutResponseHopLimit: 1,
    });
    expect(failback?.SecurityGroupIds).toEqual(['sg-0app']);
    expect(failback?.MetadataOptions).toEqual({
      HttpTokens: 'required',
      HttpEndpoint: 'enabled',
      HttpPutResponseHopLimit: 2,
    });
  });

  it('launches every EBS volume of the image encrypted, with the role’s key, reading the image once', async () => {
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0new' }] });
    const keyed = new AwsCompute(new EC2Client({ region: 'eu-west-1' }), {
      instanceArnPrefix: INSTANCE_ARN_PREFIX,
      availabilityZone: 'eu-west-1a',
      launch: { imageId: 'ami-0123456789abcdef0', instanceType: 'm7i.large', subnetId: 'subnet-1' },
      launchByRole: { gateway: { volumeKmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/staging' } },
    });

    await keyed.runInstance({ role: 'gateway', name: 'gw' });
    await keyed.runInstance({ role: 'failback', name: 'db-failback' });

    const [gateway, failback] = ec2Mock.commandCalls(RunInstancesCommand).map((call) => call.args[0].input);
    const stagingKey = { Encrypted: true, KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/staging' };
    expect(gateway?.BlockDeviceMappings).toEqual([
      { DeviceName: '/dev/xvda', Ebs: stagingKey },
      { DeviceName: '/dev/sdc', Ebs: stagingKey },
    ]);
    // Failback hosts become production: the account's default EBS key, not one tied to homebound's stack.
    expect(failback?.BlockDeviceMappings).toEqual([
      { DeviceName: '/dev/xvda', Ebs: { Encrypted: true } },
      { DeviceName: '/dev/sdc', Ebs: { Encrypted: true } },
    ]);
    expect(ec2Mock.commandCalls(DescribeImagesCommand).map((call) => call.args[0].input)).toEqual([
      { ImageIds: ['ami-0123456789abcdef0'] },
    ]);
  });

  it('refuses to launch from an image EC2 does not show', async () => {
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });

    await expect(compute().runInstance({ role: 'gateway', name: 'gw' })).rejects.toThrow(
      /image ami-0123456789abcdef0 not found/,
    );
    expect(ec2Mock.commandCalls(RunInstancesCommand)).toHaveLength(0);
  });

  it('reports snapshot state and numeric progress', async () => {
    ec2Mock.on(DescribeSnapshotsCommand).resolves({
      Snapshots: [{ SnapshotId: 'snap-1', VolumeId: 'vol-1', State: 'pending', Progress: '42%' }],
    });

    expect(await compute().describeSnapshots(['snap-1'])).toEqual([
      { snapshotId: 'snap-1', volumeId: 'vol-1', state: 'pending', progress: 42 },
    ]);
  });
});

describe('AwsCompute deployment tags', () => {
  const tagged = () =>
    new AwsCompute(new EC2Client({ region: 'eu-west-1' }), {
      instanceArnPrefix: INSTANCE_ARN_PREFIX,
      availabilityZone: 'eu-west-1a',
      launch: { imageId: 'ami-0123456789abcdef0', instanceType: 'm7i.large', subnetId: 'subnet-1' },
      resourceTags: { 'homebound:stack': 'Homebound' },
    });
  const stackTagOf = (specifications: { ResourceType?: string; Tags?: { Key?: string; Value?: string }[] }[] = []) =>
    specifications.map((s) => [s.ResourceType, s.Tags?.filter((t) => t.Key === 'homebound:stack').map((t) => t.Value)]);

  it('puts homebound:stack on every volume, host, host volume and snapshot it creates, over a request’s own', async () => {
    ec2Mock.on(CreateVolumeCommand).resolves({ VolumeId: 'vol-1' });
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-1' }] });
    ec2Mock.on(CreateSnapshotsCommand).resolves({ Snapshots: [] });
    const spoofed = { 'homebound:run': 'r1', 'homebound:stack': 'SomeoneElse' };

    await tagged().createVolume({ sizeBytes: GiB, tags: spoofed });
    await tagged().runInstance({ role: 'failback', name: 'db-failback', tags: spoofed });
    await tagged().createSnapshots('i-0takeover', spoofed);

    expect(stackTagOf(ec2Mock.commandCalls(CreateVolumeCommand)[0]?.args[0].input.TagSpecifications)).toEqual([
      ['volume', ['Homebound']],
    ]);
    expect(stackTagOf(ec2Mock.commandCalls(RunInstancesCommand)[0]?.args[0].input.TagSpecifications)).toEqual([
      ['instance', ['Homebound']],
      ['volume', ['Homebound']],
    ]);
    expect(stackTagOf(ec2Mock.commandCalls(CreateSnapshotsCommand)[0]?.args[0].input.TagSpecifications)).toEqual([
      ['snapshot', ['Homebound']],
    ]);
  });
});

describe('AwsCompute seeds', () => {
  const tagged = () =>
    new AwsCompute(new EC2Client({ region: 'eu-west-1' }), {
      instanceArnPrefix: INSTANCE_ARN_PREFIX,
      availabilityZone: 'eu-west-1a',
      launch: { imageId: 'ami-0123456789abcdef0', instanceType: 'm7i.large', subnetId: 'subnet-1' },
      resourceTags: { 'homebound:stack': 'Homebound' },
    });

  it('describes volumes it did not create by id, with their attachment, and names an unknown one', async () => {
    ec2Mock.on(DescribeVolumesCommand).resolves({
      Volumes: [
        {
          VolumeId: 'vol-seed',
          Size: 8,
          Attachments: [{ InstanceId: 'i-original', Device: '/dev/xvdf', State: 'attached' }],
          Tags: [{ Key: 'homebound:seed-for', Value: 'Homebound' }],
        },
      ],
    });

    expect(await tagged().describeVolumes(['vol-seed'])).toEqual([
      {
        volumeId: 'vol-seed',
        sizeBytes: 8 * GiB,
        attachedTo: 'i-original',
        device: '/dev/xvdf',
        tags: { 'homebound:seed-for': 'Homebound' },
      },
    ]);
    expect(ec2Mock.commandCalls(DescribeVolumesCommand)[0]?.args[0].input.Filters).toBeUndefined();
    await expect(tagged().describeVolumes(['vol-seed', 'vol-gone'])).rejects.toThrow(VolumeNotFoundError);
  });

  it('snapshots one volume tagged with the stack, creates a volume from a snapshot, claims a seed with the stack tag', async () => {
    ec2Mock.on(CreateSnapshotCommand).resolves({ SnapshotId: 'snap-kept' });
    ec2Mock.on(CreateVolumeCommand).resolves({ VolumeId: 'vol-new' });
    ec2Mock.on(CreateTagsCommand).resolves({});

    const snapshotId = await tagged().snapshotVolume({
      volumeId: 'vol-seed',
      description: 'before',
      tags: { 'homebound:preserves-seed-of': 'vol-takeover' },
    });
    await tagged().createVolume({ sizeBytes: GiB, snapshotId: 'snap-seed' });
    await tagged().claimVolume('vol-seed');

    expect(snapshotId).toBe('snap-kept');
    const snapshot = ec2Mock.commandCalls(CreateSnapshotCommand)[0]?.args[0].input;
    expect(snapshot?.VolumeId).toBe('vol-seed');
    expect(snapshot?.TagSpecifications).toEqual([
      {
        ResourceType: 'snapshot',
        Tags: [
          { Key: 'homebound:preserves-seed-of', Value: 'vol-takeover' },
          { Key: 'homebound:stack', Value: 'Homebound' },
        ],
      },
    ]);
    expect(ec2Mock.commandCalls(CreateVolumeCommand)[0]?.args[0].input.SnapshotId).toBe('snap-seed');
    expect(ec2Mock.commandCalls(CreateTagsCommand)[0]?.args[0].input).toEqual({
      Resources: ['vol-seed'],
      Tags: [{ Key: 'homebound:stack', Value: 'Homebound' }],
    });
    expect(tagged().seedOptIn).toEqual({ 'homebound:seed-for': 'Homebound' });
  });
});

describe('AwsCompute retries (idempotency)', () => {
  it('sends the ClientToken with CreateVolume and RunInstances', async () => {
    ec2Mock.on(CreateVolumeCommand).resolves({ VolumeId: 'vol-0aaaaaaaaaaaaaaaa' });
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0bbbbbbbbbbbbbbbb' }] });

    await compute().createVolume({ sizeBytes: GiB, clientToken: 'hb-volume-token' });
    await compute().runInstance({ role: 'gateway', name: 'gw', clientToken: 'hb-gateway-token' });

    expect(ec2Mock.commandCalls(CreateVolumeCommand)[0]?.args[0].input.ClientToken).toBe('hb-volume-token');
    expect(ec2Mock.commandCalls(RunInstancesCommand)[0]?.args[0].input.ClientToken).toBe('hb-gateway-token');
  });

  it('takes VolumeInUse for a volume already attached to that host at that device as done', async () => {
    ec2Mock.on(AttachVolumeCommand).rejects(ec2Error('VolumeInUse', 'vol-0abc is already attached to an instance'));
    ec2Mock.on(DescribeVolumesCommand).resolves({
      Volumes: [{ VolumeId: 'vol-0abc', Attachments: [{ InstanceId: 'i-1', Device: '/dev/sdf', State: 'attaching' }] }],
    });

    await compute().attachVolume('vol-0abc', 'i-1', '/dev/sdf');
    await expect(compute().attachVolume('vol-0abc', 'i-1', '/dev/sdg')).rejects.toBeInstanceOf(VolumeInUseError);
    expect(ec2Mock.commandCalls(DescribeVolumesCommand)[0]?.args[0].input).toEqual({ VolumeIds: ['vol-0abc'] });
  });

  it('finds this account’s snapshots by every tag, across pages', async () => {
    ec2Mock
      .on(DescribeSnapshotsCommand)
      .resolvesOnce({ Snapshots: [{ SnapshotId: 'snap-1', VolumeId: 'vol-1' }], NextToken: 't2' })
      .resolvesOnce({ Snapshots: [{ SnapshotId: 'snap-2', VolumeId: 'vol-2' }] });

    const found = await compute().findSnapshots({ 'homebound:run': 'r1', 'homebound:pass': '3' });

    expect(found).toEqual([
      { snapshotId: 'snap-1', volumeId: 'vol-1' },
      { snapshotId: 'snap-2', volumeId: 'vol-2' },
    ]);
    expect(ec2Mock.commandCalls(DescribeSnapshotsCommand).map((call) => call.args[0].input)).toEqual([
      {
        OwnerIds: ['self'],
        Filters: [
          { Name: 'tag:homebound:run', Values: ['r1'] },
          { Name: 'tag:homebound:pass', Values: ['3'] },
        ],
        NextToken: undefined,
      },
      {
        OwnerIds: ['self'],
        Filters: [
          { Name: 'tag:homebound:run', Values: ['r1'] },
          { Name: 'tag:homebound:pass', Values: ['3'] },
        ],
        NextToken: 't2',
      },
    ]);
  });
});

describe('AwsCompute kept target volumes', () => {
  const tagged = () =>
    new AwsCompute(new EC2Client({ region: 'eu-west-1' }), {
      instanceArnPrefix: INSTANCE_ARN_PREFIX,
      availabilityZone: 'eu-west-1a',
      launch: { imageId: 'ami-0123456789abcdef0', instanceType: 'm7i.large', subnetId: 'subnet-1' },
      resourceTags: { 'homebound:stack': 'Homebound' },
    });

  it('finds volumes by every tag and its own stack tag, across pages, with size, attachment and tags', async () => {
    ec2Mock
      .on(DescribeVolumesCommand)
      .resolvesOnce({
        Volumes: [
          {
            VolumeId: 'vol-1',
            Size: 2,
            Attachments: [{ InstanceId: 'i-1', State: 'attached' }],
            Tags: [{ Key: 'homebound:kept-for', Value: 'vol-src' }],
          },
        ],
        NextToken: 't2',
      })
      .resolvesOnce({
        Volumes: [{ VolumeId: 'vol-2', Size: 1, Attachments: [{ InstanceId: 'i-2', State: 'detached' }] }],
      });

    const found = await tagged().findVolumes({ 'homebound:kept-for': 'vol-src' });

    expect(found).toEqual([
      { volumeId: 'vol-1', sizeBytes: 2 * GiB, attachedTo: 'i-1', tags: { 'homebound:kept-for': 'vol-src' } },
      { volumeId: 'vol-2', sizeBytes: GiB, tags: {} },
    ]);
    const filters = [
      { Name: 'tag:homebound:kept-for', Values: ['vol-src'] },
      { Name: 'tag:homebound:stack', Values: ['Homebound'] },
    ];
    expect(ec2Mock.commandCalls(DescribeVolumesCommand).map((call) => call.args[0].input)).toEqual([
      { Filters: filters, NextToken: undefined },
      { Filters: filters, NextToken: 't2' },
    ]);
  });

  it('deletes tags by key', async () => {
    ec2Mock.on(DeleteTagsCommand).resolves({});

    await compute().deleteTags(['vol-1', 'snap-1'], ['homebound:kept-for']);
    await compute().deleteTags([], ['homebound:kept-for']);

    expect(ec2Mock.commandCalls(DeleteTagsCommand).map((call) => call.args[0].input)).toEqual([
      { Resources: ['vol-1', 'snap-1'], Tags: [{ Key: 'homebound:kept-for' }] },
    ]);
  });
});

describe('AwsCompute error mapping', () => {
  it('launches a failback host with its own type, subnet, groups and private address over the launch settings', async () => {
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0new' }] });

    await compute().runInstance({
      role: 'failback',
      name: 'db-failback',
      instanceType: 'r6i.large',
      subnetId: 'subnet-0home',
      securityGroupIds: ['sg-0db'],
      privateIp: '192.168.5.25',
      tags: { app: 'billing' },
    });
    await compute().runInstance({ role: 'failback', name: 'web-failback' });

    const [own, defaults] = ec2Mock.commandCalls(RunInstancesCommand).map((call) => call.args[0].input);
    expect(own).toMatchObject({
      InstanceType: 'r6i.large',
      SubnetId: 'subnet-0home',
      SecurityGroupIds: ['sg-0db'],
      PrivateIpAddress: '192.168.5.25',
    });
    expect(own?.TagSpecifications?.[0]?.Tags).toContainEqual({ Key: 'app', Value: 'billing' });
    expect(defaults).toMatchObject({ InstanceType: 'm7i.large', SubnetId: 'subnet-1' });
    expect(defaults).not.toHaveProperty('PrivateIpAddress');
  });

  it('describes a host’s address, subnet and groups, and subnets’ blocks', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-0a',
              InstanceType: 'm5.large',
              PrivateIpAddress: '10.8.0.25',
              SubnetId: 'subnet-0dr',
              SecurityGroups: [{ GroupId: 'sg-0a', GroupName: 'app' }],
              State: { Name: 'running' },
            },
          ],
        },
      ],
    });
    ec2Mock.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: 'subnet-0dr', CidrBlock: '10.8.0.0/24' }] });

    const [host] = await compute().describeHosts({ hostIds: ['i-0a'] });
    expect(host).toMatchObject({ privateIp: '10.8.0.25', subnetId: 'subnet-0dr', securityGroupIds: ['sg-0a'] });
    await compute().describeHosts({ subnetIds: ['subnet-0dr'] });
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)[1]?.args[0].input.Filters).toEqual([
      { Name: 'subnet-id', Values: ['subnet-0dr'] },
    ]);
    expect(await compute().describeSubnets(['subnet-0dr'])).toEqual([{ subnetId: 'subnet-0dr', cidr: '10.8.0.0/24' }]);
  });

  it('names the missing subnet from InvalidSubnetID.NotFound', async () => {
    ec2Mock
      .on(DescribeSubnetsCommand)
      .rejects(ec2Error('InvalidSubnetID.NotFound', "The subnet ID 'subnet-0gone' does not exist"));

    const error = await compute()
      .describeSubnets(['subnet-0gone'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SubnetNotFoundError);
    expect((error as SubnetNotFoundError).subnetId).toBe('subnet-0gone');
  });

  it('names the missing host from InvalidInstanceID.NotFound', async () => {
    ec2Mock
      .on(DescribeInstancesCommand)
      .rejects(ec2Error('InvalidInstanceID.NotFound', "The instance ID 'i-0deadbeef' does not exist"));

    const error = await compute()
      .describeHosts({ hostIds: ['i-0deadbeef'] })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(HostNotFoundError);
    expect((error as HostNotFoundError).hostId).toBe('i-0deadbeef');
  });

  it('maps a malformed instance id to HostNotFoundError', async () => {
    ec2Mock.on(StopInstancesCommand).rejects(ec2Error('InvalidInstanceID.Malformed', 'Invalid id: "bogus"'));

    await expect(compute().stopInstances(['bogus'])).rejects.toBeInstanceOf(HostNotFoundError);
  });

  it('maps volume and snapshot not-found codes to the engine’s named errors', async () => {
    ec2Mock
      .on(DeleteVolumeCommand)
      .rejects(ec2Error('InvalidVolume.NotFound', "The volume 'vol-0abc' does not exist."));
    ec2Mock
      .on(DescribeSnapshotsCommand)
      .rejects(ec2Error('InvalidSnapshot.NotFound', "The snapshot 'snap-0abc' does not exist."));

    const volumeError = await compute()
      .deleteVolume('vol-0abc')
      .catch((e: unknown) => e);
    const snapshotError = await compute()
      .describeSnapshots(['snap-0abc'])
      .catch((e: unknown) => e);

    expect(volumeError).toBeInstanceOf(VolumeNotFoundError);
    expect((volumeError as VolumeNotFoundError).volume).toBe('vol-0abc');
    expect(snapshotError).toBeInstanceOf(SnapshotNotFoundError);
    expect((snapshotError as SnapshotNotFoundError).snapshotId).toBe('snap-0abc');
  });

  it('marks RequestLimitExceeded as throttled and 5xx as transient', async () => {
    ec2Mock.on(DescribeSnapshotsCommand).rejects(ec2Error('RequestLimitExceeded', 'Request limit exceeded.', 503));
    ec2Mock.on(CreateVolumeCommand).rejects(ec2Error('InternalError', 'An internal error has occurred', 500));

    const throttled = await compute()
      .describeSnapshots(['snap-1'])
      .catch((e: unknown) => e);
    const transient = await compute()
      .createVolume({ sizeBytes: GiB })
      .catch((e: unknown) => e);

    expect(throttled).toBeInstanceOf(ThrottledError);
    expect(throttled).toMatchObject({ retryable: true, throttled: true });
    expect(transient).toBeInstanceOf(TransientError);
    expect(transient).toMatchObject({ retryable: true });
  });

  it('maps attach and detach conflicts', async () => {
    ec2Mock.on(AttachVolumeCommand).rejects(ec2Error('VolumeInUse', 'vol-0abc is already attached to an instance'));
    ec2Mock.on(DescribeVolumesCommand).resolves({
      Volumes: [{ VolumeId: 'vol-0abc', Attachments: [{ InstanceId: 'i-2', Device: '/dev/sdf', State: 'attached' }] }],
    });
    ec2Mock
      .on(DetachVolumeCommand)
      .rejects(ec2Error('IncorrectState', "Volume 'vol-0abc' is in the 'available' state."));

    await expect(compute().attachVolume('vol-0abc', 'i-1', '/dev/sdf')).rejects.toBeInstanceOf(VolumeInUseError);
    await expect(compute().detachVolume('vol-0abc')).rejects.toBeInstanceOf(VolumeNotAttachedError);
  });

  it('maps IncorrectInstanceState to HostStateError', async () => {
    ec2Mock
      .on(StopInstancesCommand)
      .rejects(
        ec2Error('IncorrectInstanceState', "The instance 'i-0abc' is not in a state from which it can be stopped."),
      );

    await expect(compute().stopInstances(['i-0abc'])).rejects.toBeInstanceOf(HostStateError);
  });

  it('treats a snapshot already deleted as deleted, so clean-up can be retried', async () => {
    ec2Mock
      .on(DeleteSnapshotCommand, { SnapshotId: 'snap-gone' })
      .rejects(ec2Error('InvalidSnapshot.NotFound', "The snapshot 'snap-gone' does not exist."))
      .on(DeleteSnapshotCommand, { SnapshotId: 'snap-here' })
      .resolves({});

    await compute().deleteSnapshots(['snap-gone', 'snap-here']);

    expect(ec2Mock.commandCalls(DeleteSnapshotCommand).map((c) => c.args[0].input.SnapshotId)).toEqual([
      'snap-gone',
      'snap-here',
    ]);
  });
});
