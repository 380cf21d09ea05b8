import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { METADATA_HOP_LIMITS } from '../core/compute/aws-compute.js';
import { ROLE_TAG, STACK_TAG } from '../core/compute/port.js';
import { RUN_TAG } from '../core/failback/run-state.js';
import { REPLACES_TAG } from '../core/failback/steps/hosts.js';
import { SOURCE_VOLUME_TAG } from '../core/failback/steps/prepare-target.js';

/** An EC2 ARN in the stack's Region (and account, unless `withAccount` is false, as for public images/snapshots). */
export type Ec2Arn = (resource: string, name: string, withAccount?: boolean) => string;

/** What one kind of host may be launched as. */
export interface LaunchScope {
  readonly role: 'gateway' | 'failback';
  readonly stackTagValue: string;
  readonly imageId: string;
  readonly subnetIds: readonly string[];
  readonly instanceTypes: readonly string[];
  readonly securityGroupIds: readonly string[];
  /** Tag keys the launch may set besides homebound's own (failback hosts: homebound:failbackTagKeys). @default none */
  readonly extraTagKeys?: readonly string[];
}

/** The tag keys a create may set; anything else (e.g. `homebound:state`) is refused at creation. */
const LAUNCH_TAG_KEYS = [RUN_TAG, STACK_TAG, ROLE_TAG, 'Name', REPLACES_TAG];
const VOLUME_TAG_KEYS = [RUN_TAG, STACK_TAG, 'Name', SOURCE_VOLUME_TAG];

/**
 * RunInstances for one role, each condition on the resource type it applies to (IAM evaluates RunInstances once per
 * resource, and a key absent from a resource's context fails the whole statement for it): the instance is tagged
 * with this stack and the role, of a configured type, IMDSv2 with the role's hop limit; its volumes are tagged and
 * encrypted; image, subnets and security groups are the configured ones. The new network interface has no id yet.
 */
export function launchStatements(arn: Ec2Arn, scope: LaunchScope): iam.PolicyStatement[] {
  const tagged = { [`aws:RequestTag/${STACK_TAG}`]: scope.stackTagValue, [`aws:RequestTag/${ROLE_TAG}`]: scope.role };
  const tagKeys = {
    'ForAllValues:StringEquals': { 'aws:TagKeys': [...LAUNCH_TAG_KEYS, ...(scope.extraTagKeys ?? [])] },
  };
  const instanceType = scope.instanceTypes.length === 1 ? scope.instanceTypes[0] : [...scope.instanceTypes];
  return [
    new iam.PolicyStatement({
      actions: ['ec2:RunInstances'],
      resources: [arn('instance', '*')],
      conditions: {
        StringEquals: { ...tagged, 'ec2:InstanceType': instanceType, 'ec2:MetadataHttpTokens': 'required' },
        NumericLessThanEquals: { 'ec2:MetadataHttpPutResponseHopLimit': METADATA_HOP_LIMITS[scope.role] },
        ...tagKeys,
      },
    }),
    new iam.PolicyStatement({
      actions: ['ec2:RunInstances'],
      resources: [arn('volume', '*')],
      conditions: { StringEquals: tagged, Bool: { 'ec2:Encrypted': 'true' }, ...tagKeys },
    }),
    new iam.PolicyStatement({
      actions: ['ec2:RunInstances'],
      resources: [
        arn('image', scope.imageId, false),
        ...scope.subnetIds.map((subnetId) => arn('subnet', subnetId)),
        arn('network-interface', '*'),
        ...scope.securityGroupIds.map((group) => arn('security-group', group)),
      ],
    }),
    new iam.PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: [arn('instance', '*'), arn('volume', '*')],
      conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances', ...tagged } },
    }),
  ];
}

/** CreateVolume (target volumes): encrypted, tagged with this stack, only homebound's own tag keys. */
export function createVolumeStatements(arn: Ec2Arn, stackTagValue: string): iam.PolicyStatement[] {
  const tagged = { [`aws:RequestTag/${STACK_TAG}`]: stackTagValue };
  return [
    new iam.PolicyStatement({
      actions: ['ec2:CreateVolume'],
      resources: [arn('volume', '*')],
      conditions: {
        StringEquals: tagged,
        Bool: { 'ec2:Encrypted': 'true' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': VOLUME_TAG_KEYS },
      },
    }),
    new iam.PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: [arn('volume', '*')],
      conditions: { StringEquals: { 'ec2:CreateAction': 'CreateVolume', ...tagged } },
    }),
  ];
}

/**
 * Use of a customer managed key for the volumes a launch creates, as EBS needs it, only through EC2: EC2 creates a
 * grant for the instance (kms:GrantIsForAWSResource) and uses it whenever the instance starts. ReEncrypt covers an
 * image whose snapshots are encrypted with another key. The key's policy must delegate to IAM (the stack's own key
 * does: its policy admits the account).
 */
export function ebsKeyStatements(keyArn: string): iam.PolicyStatement[] {
  const viaEc2 = { 'kms:ViaService': `ec2.${Aws.REGION}.amazonaws.com` };
  return [
    new iam.PolicyStatement({
      actions: ['kms:CreateGrant'],
      resources: [keyArn],
      conditions: { StringEquals: viaEc2, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    }),
    new iam.PolicyStatement({
      actions: [
        'kms:DescribeKey',
        'kms:GenerateDataKeyWithoutPlaintext',
        'kms:Decrypt',
        'kms:ReEncryptFrom',
        'kms:ReEncryptTo',
      ],
      resources: [keyArn],
      conditions: { StringEquals: viaEc2 },
    }),
  ];
}
