import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { awsFailbackDeps, awsFailbackDepsOnce } from '../../core/wiring/aws.js';

const ENVIRONMENT = {
  HOMEBOUND_STAGING_BUCKET: 'homebound-staging',
  HOMEBOUND_AVAILABILITY_ZONE: 'eu-west-1a',
  HOMEBOUND_SUBNET_ID: 'subnet-0123abcd',
  HOMEBOUND_IMAGE_ID: 'ami-0123456789abcdef0',
  HOMEBOUND_INSTANCE_TYPE: 'm7g.large',
  HOMEBOUND_STACK_TAG: 'Homebound',
  HOMEBOUND_GATEWAY_SECURITY_GROUP_ID: 'sg-0123abcd',
  HOMEBOUND_SECURITY_GROUP_IDS: 'sg-0app1,sg-0app2',
  HOMEBOUND_GATEWAY_VOLUME_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:123456789012:key/staging',
  HOMEBOUND_GATEWAY_ARTIFACT_URI: 's3://cdk-assets/0123abcd.mjs',
  HOMEBOUND_GATEWAY_ARTIFACT_SHA256: '0'.repeat(64),
  HOMEBOUND_INSTANCE_ARN_PREFIX: 'arn:aws:ec2:eu-west-1:123456789012:instance/',
};

// awsFailbackDeps builds from the env it is given, every time: the tests do not depend on their order.
describe('the failback functions environment', () => {
  it('refuses a missing takeover tag, naming the variable', () => {
    expect(() => awsFailbackDeps(ENVIRONMENT)).toThrow(InvalidInputError);
    expect(() => awsFailbackDeps(ENVIRONMENT)).toThrow(/HOMEBOUND_TAKEOVER_TAG/);
  });

  it('refuses a takeover tag that is not key=value, naming the variable', () => {
    expect(() => awsFailbackDeps({ ...ENVIRONMENT, HOMEBOUND_TAKEOVER_TAG: 'dr-takeover' })).toThrow(
      /HOMEBOUND_TAKEOVER_TAG: key=value/,
    );
  });

  it('refuses a missing homebound:stack value (what IAM requires on everything the functions create)', () => {
    const { HOMEBOUND_STACK_TAG: _, ...withoutStack } = ENVIRONMENT;
    expect(() => awsFailbackDeps({ ...withoutStack, HOMEBOUND_TAKEOVER_TAG: 'k=v' })).toThrow(/HOMEBOUND_STACK_TAG/);
  });

  it('refuses a missing instance ARN prefix (where the gateway of a run writes its records)', () => {
    const { HOMEBOUND_INSTANCE_ARN_PREFIX: _, ...without } = ENVIRONMENT;
    expect(() => awsFailbackDeps({ ...without, HOMEBOUND_TAKEOVER_TAG: 'k=v' })).toThrow(
      /HOMEBOUND_INSTANCE_ARN_PREFIX/,
    );
  });

  it('hands StreamPass its split settings, 4 invocations per volume and 1,000 reads/s per snapshot unless set', () => {
    const base = { ...ENVIRONMENT, AWS_REGION: 'eu-west-1', HOMEBOUND_TAKEOVER_TAG: 'k=v' };

    const defaults = awsFailbackDeps(base).streamSplit;
    const set = awsFailbackDeps({
      ...base,
      HOMEBOUND_STREAM_INVOCATIONS_PER_VOLUME: '8',
      HOMEBOUND_SNAPSHOT_BLOCK_QUOTA: '500',
    }).streamSplit;

    expect(defaults).toMatchObject({ invocationsPerVolume: 4, snapshotBlockQuota: 1000 });
    expect(set).toMatchObject({ invocationsPerVolume: 8, snapshotBlockQuota: 500 });
    expect(() => awsFailbackDeps({ ...base, HOMEBOUND_STREAM_INVOCATIONS_PER_VOLUME: '11' })).toThrow(
      /HOMEBOUND_STREAM_INVOCATIONS_PER_VOLUME/,
    );
  });

  it('hands the steps the takeover tag, split at the first "="', () => {
    const deps = awsFailbackDeps({ ...ENVIRONMENT, AWS_REGION: 'eu-west-1', HOMEBOUND_TAKEOVER_TAG: 'dr:role=a=b' });
    expect(deps.takeoverTag).toEqual({ key: 'dr:role', value: 'a=b' });
    // The ARN IAM sees as ${ec2:SourceInstanceARN} on a gateway's requests: where CheckApplied reads its records.
    expect(deps.compute.instanceArn('i-0abc')).toBe('arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc');
  });

  it('hands ValidateRequest the deployment’s failback launch defaults and the sets IAM allows', () => {
    const env = { ...ENVIRONMENT, AWS_REGION: 'eu-west-1', HOMEBOUND_TAKEOVER_TAG: 'k=v' };
    expect(awsFailbackDeps(env).failbackLaunch).toEqual({
      instanceType: 'm7g.large',
      subnetId: 'subnet-0123abcd',
      securityGroupIds: ['sg-0app1', 'sg-0app2'],
      allowedInstanceTypes: ['m7g.large'],
      allowedSubnetIds: ['subnet-0123abcd'],
      allowedTagKeys: [],
    });
    const configured = awsFailbackDeps({
      ...env,
      HOMEBOUND_FAILBACK_INSTANCE_TYPES: 'm7g.large,r7g.xlarge',
      HOMEBOUND_FAILBACK_SUBNET_IDS: 'subnet-0a,subnet-0b',
      HOMEBOUND_FAILBACK_TAG_KEYS: 'app',
    }).failbackLaunch;
    expect(configured).toMatchObject({
      allowedInstanceTypes: ['m7g.large', 'r7g.xlarge'],
      allowedSubnetIds: ['subnet-0a', 'subnet-0b'],
      allowedTagKeys: ['app'],
    });
  });

  it('launches gateways and failback hosts each with its groups and key, tagged with the stack', async () => {
    const ec2 = mockClient(EC2Client);
    ec2
      .on(DescribeImagesCommand)
      .resolves({ Images: [{ BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: {} }] }] });
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0new' }] });
    const deps = awsFailbackDeps({ ...ENVIRONMENT, AWS_REGION: 'eu-west-1', HOMEBOUND_TAKEOVER_TAG: 'dr:role=a=b' });

    await deps.compute.runInstance({ role: 'gateway', name: 'gw' });
    await deps.compute.runInstance({ role: 'failback', name: 'db-failback' });

    const [gateway, failback] = ec2.commandCalls(RunInstancesCommand).map((call) => call.args[0].input);
    ec2.restore();
    expect(gateway?.SecurityGroupIds).toEqual(['sg-0123abcd']);
    expect(gateway?.BlockDeviceMappings?.[0]?.Ebs).toEqual({
      Encrypted: true,
      KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/staging',
    });
    expect(failback?.SecurityGroupIds).toEqual(['sg-0app1', 'sg-0app2']);
    expect(failback?.BlockDeviceMappings?.[0]?.Ebs).toEqual({ Encrypted: true });
    for (const launch of [gateway, failback]) {
      expect(launch?.TagSpecifications?.[0]?.Tags).toContainEqual({ Key: 'homebound:stack', Value: 'Homebound' });
    }
  });

  it('builds from the environment it is given, not from the first one it saw', () => {
    const first = awsFailbackDeps({ ...ENVIRONMENT, AWS_REGION: 'eu-west-1', HOMEBOUND_TAKEOVER_TAG: 'dr=one' });
    const second = awsFailbackDeps({ ...ENVIRONMENT, AWS_REGION: 'eu-west-1', HOMEBOUND_TAKEOVER_TAG: 'dr=two' });

    expect(first.takeoverTag).toEqual({ key: 'dr', value: 'one' });
    expect(second.takeoverTag).toEqual({ key: 'dr', value: 'two' });
  });

  it('gives a handler module one set of deps, built on its first invocation', () => {
    const good = awsFailbackDepsOnce({ ...ENVIRONMENT, AWS_REGION: 'eu-west-1', HOMEBOUND_TAKEOVER_TAG: 'dr=a' });
    const bad = awsFailbackDepsOnce(ENVIRONMENT);

    expect(good()).toBe(good());
    expect(good().takeoverTag).toEqual({ key: 'dr', value: 'a' });
    // A malformed environment fails the invocation, naming the variable, not the module load.
    expect(() => bad()).toThrow(/HOMEBOUND_TAKEOVER_TAG/);
  });
});
