import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { LIVE_STATE, ROLE_TAG, SEED_FOR_TAG, STACK_TAG, STATE_TAG } from '../core/compute/port.js';
import { PRESERVES_SEED_OF_TAG, SEED_VOLUME_TAG } from '../core/failback/aws-seeds.js';
import { BASE_OF_TAG, KEPT_TAGS } from '../core/failback/kept-target.js';
import { RUN_TAG } from '../core/failback/run-state.js';
import { failbackLaunchScope, type HomeboundConfig } from './config.js';
import { lambdaVpcStatements, runCommandStatements } from './health-check-permissions.js';
import { createVolumeStatements, type Ec2Arn, ebsKeyStatements, launchStatements } from './launch-permissions.js';
import type { Staging } from './staging.js';

/**
 * What a failback function may do, one capability per value. EC2 rights are scoped by tags: what homebound creates
 * carries `homebound:stack=<this stack's name>` (required at creation, checked on every change, so one deployment
 * cannot touch another's resources), takeover hosts carry the configured takeover tag, and nothing may change what is
 * tagged `homebound:state=live` (see docs/security.md).
 */
export type FailbackAccess =
  /** Describe instances, volumes, snapshots, images (EC2 Describe* has no resource-level permissions). */
  | 'ec2:describe'
  /** CreateVolume (target volumes): encrypted, tagged with this stack. */
  | 'ec2:createVolumes'
  /**
   * RunInstances of sync gateways: tagged with this stack and role `gateway`, the gateway instance type, IMDSv2 with hop
   * limit 1, encrypted volumes, the configured image and subnet, the gateways' security group; use of the staging key
   * through EC2 for the gateway's volumes.
   */
  | 'ec2:launchGateway'
  /** RunInstances of failback hosts: as gateways, with role `failback`, their type, hop limit 2, their groups. */
  | 'ec2:launchFailbackHosts'
  /**
   * Pass the sync gateway role to EC2 (RunInstances with the gateway's instance profile). Only PrepareTarget launches
   * gateways; failback hosts start without a profile, so LaunchFailbackHosts passes no role.
   */
  | 'iam:passGatewayRole'
  /** Attach/detach volumes this stack created to/from instances this stack launched. */
  | 'ec2:moveVolumes'
  /** Start/stop takeover hosts and the instances this stack launched. */
  | 'ec2:power'
  /** Crash-consistent snapshots of takeover hosts, tagged with this stack. */
  | 'ec2:snapshot'
  | 'ec2:deleteSnapshots'
  /** Tag a takeover host with `homebound:run` / `homebound:failed-back-to` once it is retired. */
  | 'ec2:retire'
  /** Tag this stack's failback hosts and their volumes `homebound:state=live` (and nothing else) at handover. */
  | 'ec2:markLive'
  /** Terminate this stack's sync gateways (role `gateway`), never a takeover or failback host. */
  | 'ec2:terminateGateway'
  /**
   * After a rollback: detach this stack's volumes from this stack's failback hosts (role `failback`) and terminate
   * those hosts; never a gateway or takeover host, never an attach (and nothing live: the deny below wins).
   */
  | 'ec2:removeFailbackHosts'
  /**
   * Tag and untag this stack's target volumes and snapshots with the kept-target keys (core/failback/kept-target.ts)
   * and `homebound:run` (a kept volume a later run takes over), and nothing else.
   */
  | 'ec2:keepTargets'
  /**
   * Take over seeds (hosts[i].failback.seed), only those an operator tagged `homebound:seed-for=<this stack>`: stop the
   * instance a seed volume is attached to and detach it, snapshot it (the snapshot tagged as this stack's), tag it
   * with this stack's tag and a seed snapshot with the preservation keys (nothing else), create a target volume from a
   * seed snapshot.
   */
  | 'ec2:takeOverSeeds'
  /** EBS direct API reads of snapshots this stack took. */
  | 'ebs:read'
  /**
   * SSM Run Command for `ssm` health checks: SendCommand only to this stack's failback hosts (never to one handed
   * over, `homebound:state=live`) and only with AWS-RunShellScript, AWS-RunPowerShellScript or the configured
   * `healthCheckDocuments`; GetCommandInvocation and CancelCommand, which have no resource-level permissions.
   */
  | 'ssm:healthChecks'
  /** Read, write and delete under `runs/` (staged passes) and `records/` (run records) in staging. */
  | 'staging';

export interface FailbackPermissionsProps {
  readonly config: HomeboundConfig;
  readonly staging: Staging;
  /** The sync gateway's role: functions pass it to EC2 and nothing else. */
  readonly gatewayRole: iam.IRole;
  /** The only security group a gateway may be launched with. */
  readonly gatewaySecurityGroupId: string;
  /** The only security groups a failback host may be launched with. */
  readonly failbackSecurityGroupIds: readonly string[];
}

/** What a live (handed-over) host or volume must never undergo from homebound. */
const LIVE_PROTECTED_ACTIONS = [
  'ec2:StartInstances',
  'ec2:StopInstances',
  'ec2:RebootInstances',
  'ec2:TerminateInstances',
  'ec2:ModifyInstanceAttribute',
  'ec2:ModifyInstanceMetadataOptions',
  'ec2:AttachVolume',
  'ec2:DetachVolume',
  'ec2:DeleteVolume',
  'ec2:ModifyVolume',
  'ec2:DeleteTags',
];

/** Builds the IAM statements behind each FailbackAccess for one stack. */
export class FailbackPermissions {
  private readonly arn: Ec2Arn;
  private readonly stack: Stack;
  /** This deployment's `homebound:stack` value: the stack name, unique in an account and Region. */
  readonly stackTagValue: string;

  constructor(
    scope: Construct,
    private readonly props: FailbackPermissionsProps,
  ) {
    const stack = Stack.of(scope);
    this.stack = stack;
    this.stackTagValue = stack.stackName;
    this.arn = (resource, resourceName, withAccount = true) =>
      stack.formatArn({ service: 'ec2', resource, resourceName, ...(withAccount ? {} : { account: '' }) });
  }

  /**
   * Grants every capability in `accesses` to `role`; a role that may change anything in EC2 also gets the explicit
   * deny on live hosts and volumes, which wins over any allow (its own, or one added to the role later).
   */
  grant(role: iam.IRole, accesses: readonly FailbackAccess[]): void {
    for (const access of accesses) {
      if (access === 'staging') {
        this.props.staging.grantObjects(role, 'readWrite', 'runs/*');
        this.props.staging.grantObjects(role, 'readWrite', 'records/*');
      } else for (const statement of this.statements(access)) role.addToPrincipalPolicy(statement);
    }
    if (accesses.some((access) => access.startsWith('ec2:') && access !== 'ec2:describe')) {
      for (const statement of this.liveProtection()) role.addToPrincipalPolicy(statement);
    }
  }

  /**
   * What Lambda needs to place a function in the VPC (`inVpc` in lib/failback-task-settings.ts): create its network
   * interfaces in `subnetIds` with `securityGroupId`, and manage and delete them. The function's own code is denied
   * the ENI changes (`lambda:SourceFunctionArn` is set only on calls made with the function's credentials), so only
   * the Lambda service uses them.
   */
  grantVpcNetworkInterfaces(role: iam.IRole, network: { subnetIds: readonly string[]; securityGroupId: string }): void {
    const statements = lambdaVpcStatements(this.arn, this.stack, network);
    // A role that may change anything in EC2 carries the live denies, these rights included (see grant()).
    for (const statement of [...statements, ...this.liveProtection()]) role.addToPrincipalPolicy(statement);
  }

  /** `aws:ResourceTag/homebound:stack` is this stack: what this deployment created. */
  private ownResource() {
    return { [`aws:ResourceTag/${STACK_TAG}`]: this.stackTagValue };
  }

  /** `aws:RequestTag/homebound:stack` is this stack: what this deployment creates. */
  private ownRequest() {
    return { [`aws:RequestTag/${STACK_TAG}`]: this.stackTagValue };
  }

  /**
   * Explicit denies on what carries `homebound:state=live`: no power change, termination, volume move or change, tag
   * deletion, and no CreateTags except re-asserting `homebound:state=live` itself (so a retried handover succeeds).
   */
  private liveProtection(): iam.PolicyStatement[] {
    const resources = [this.arn('instance', '*'), this.arn('volume', '*')];
    const live = { [`aws:ResourceTag/${STATE_TAG}`]: LIVE_STATE };
    return [
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        actions: LIVE_PROTECTED_ACTIONS,
        resources,
        conditions: { StringEquals: live },
      }),
      // Two statements because IAM ANDs the conditions of one: any other key, or another value of the state key.
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        actions: ['ec2:CreateTags'],
        resources,
        conditions: { StringEquals: live, 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': [STATE_TAG] } },
      }),
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        actions: ['ec2:CreateTags'],
        resources,
        conditions: { StringEquals: live, StringNotEquals: { [`aws:RequestTag/${STATE_TAG}`]: LIVE_STATE } },
      }),
    ];
  }

  private statements(access: Exclude<FailbackAccess, 'staging'>): iam.PolicyStatement[] {
    const { config, gatewayRole } = this.props;
    const takeover = { StringEquals: { [`aws:ResourceTag/${config.takeoverTag.key}`]: config.takeoverTag.value } };
    const instances = this.arn('instance', '*');
    const volumes = this.arn('volume', '*');
    const snapshots = this.arn('snapshot', '*', false);
    const launchBase = { stackTagValue: this.stackTagValue, imageId: config.imageId };
    switch (access) {
      case 'ec2:describe':
        return [
          new iam.PolicyStatement({
            // DescribeImages: a launch encrypts every EBS mapping of the image, so it reads them first.
            // DescribeInstanceTypes: an on-prem failback VM gets its takeover host's vCPUs and memory, and a failback
            // host's type must exist. DescribeSubnets: a failback host's address must lie in its subnet.
            actions: [
              'ec2:DescribeInstances',
              'ec2:DescribeVolumes',
              'ec2:DescribeSnapshots',
              'ec2:DescribeImages',
              'ec2:DescribeInstanceTypes',
              'ec2:DescribeSubnets',
            ],
            resources: ['*'],
          }),
        ];
      case 'ec2:createVolumes':
        return createVolumeStatements(this.arn, this.stackTagValue);
      case 'ec2:launchGateway':
        return [
          ...launchStatements(this.arn, {
            ...launchBase,
            role: 'gateway',
            subnetIds: [config.subnetId],
            instanceTypes: [config.gatewayInstanceType ?? config.instanceType],
            securityGroupIds: [this.props.gatewaySecurityGroupId],
          }),
          // The gateway's volumes are encrypted with the staging key (HOMEBOUND_GATEWAY_VOLUME_KMS_KEY_ID).
          ...ebsKeyStatements(this.props.staging.key.keyArn),
        ];
      case 'ec2:launchFailbackHosts':
        return launchStatements(this.arn, {
          ...launchBase,
          role: 'failback',
          // A host's own type and subnet from the request or the takeover host, within the configured sets.
          ...failbackLaunchScope(config),
          securityGroupIds: this.props.failbackSecurityGroupIds,
          extraTagKeys: config.failbackTagKeys,
        });
      case 'iam:passGatewayRole':
        return [
          new iam.PolicyStatement({
            actions: ['iam:PassRole'],
            resources: [gatewayRole.roleArn],
            conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
          }),
        ];
      case 'ec2:moveVolumes':
        // Instance and volume are both checked: each must be this stack's.
        return [
          new iam.PolicyStatement({
            actions: ['ec2:AttachVolume', 'ec2:DetachVolume'],
            resources: [instances, volumes],
            conditions: { StringEquals: this.ownResource() },
          }),
        ];
      case 'ec2:power':
        return [
          new iam.PolicyStatement({
            actions: ['ec2:StartInstances', 'ec2:StopInstances'],
            resources: [instances],
            conditions: { StringEquals: this.ownResource() },
          }),
          new iam.PolicyStatement({
            actions: ['ec2:StartInstances', 'ec2:StopInstances'],
            resources: [instances],
            conditions: takeover,
          }),
        ];
      case 'ec2:snapshot':
        return [
          new iam.PolicyStatement({ actions: ['ec2:CreateSnapshots'], resources: [instances], conditions: takeover }),
          // The volumes are those of the (tag-checked) instance; takeover volumes need not carry the tag.
          new iam.PolicyStatement({ actions: ['ec2:CreateSnapshots'], resources: [volumes] }),
          new iam.PolicyStatement({
            actions: ['ec2:CreateSnapshots'],
            resources: [snapshots],
            // No aws:TagKeys limit: CopyTagsFromSource copies whatever tags the takeover volumes carry.
            conditions: { StringEquals: this.ownRequest() },
          }),
          new iam.PolicyStatement({
            actions: ['ec2:CreateTags'],
            resources: [snapshots],
            conditions: { StringEquals: { 'ec2:CreateAction': 'CreateSnapshots', ...this.ownRequest() } },
          }),
        ];
      case 'ec2:deleteSnapshots':
        return [
          new iam.PolicyStatement({
            actions: ['ec2:DeleteSnapshot'],
            resources: [snapshots],
            conditions: { StringEquals: this.ownResource() },
          }),
        ];
      case 'ec2:retire':
        return [
          new iam.PolicyStatement({
            actions: ['ec2:CreateTags'],
            resources: [instances],
            conditions: {
              ...takeover,
              'ForAllValues:StringEquals': { 'aws:TagKeys': [RUN_TAG, 'homebound:failed-back-to'] },
            },
          }),
        ];
      case 'ec2:markLive': {
        const markLive = {
          ...this.ownResource(),
          [`aws:RequestTag/${STATE_TAG}`]: LIVE_STATE,
        };
        const onlyState = { 'ForAllValues:StringEquals': { 'aws:TagKeys': [STATE_TAG] } };
        return [
          new iam.PolicyStatement({
            actions: ['ec2:CreateTags'],
            resources: [instances],
            conditions: { StringEquals: { ...markLive, [`aws:ResourceTag/${ROLE_TAG}`]: 'failback' }, ...onlyState },
          }),
          // Target volumes carry no role tag; the stack tag and the one key/value are the limit.
          new iam.PolicyStatement({
            actions: ['ec2:CreateTags'],
            resources: [volumes],
            conditions: { StringEquals: markLive, ...onlyState },
          }),
        ];
      }
      case 'ec2:keepTargets': {
        const keys = { 'ForAllValues:StringEquals': { 'aws:TagKeys': [...KEPT_TAGS, BASE_OF_TAG, RUN_TAG] } };
        return [
          new iam.PolicyStatement({
            actions: ['ec2:CreateTags', 'ec2:DeleteTags'],
            resources: [volumes, snapshots],
            conditions: { StringEquals: this.ownResource(), ...keys },
          }),
        ];
      }
      case 'ec2:terminateGateway':
        return [
          new iam.PolicyStatement({
            actions: ['ec2:TerminateInstances'],
            resources: [instances],
            conditions: { StringEquals: { [`aws:ResourceTag/${ROLE_TAG}`]: 'gateway', ...this.ownResource() } },
          }),
        ];
      case 'ec2:removeFailbackHosts': {
        const failbackHost = { StringEquals: { [`aws:ResourceTag/${ROLE_TAG}`]: 'failback', ...this.ownResource() } };
        return [
          new iam.PolicyStatement({
            actions: ['ec2:TerminateInstances', 'ec2:DetachVolume'],
            resources: [instances],
            conditions: failbackHost,
          }),
          // DetachVolume is checked on the volume too; target volumes carry no role tag.
          new iam.PolicyStatement({
            actions: ['ec2:DetachVolume'],
            resources: [volumes],
            conditions: { StringEquals: this.ownResource() },
          }),
        ];
      }
      case 'ec2:takeOverSeeds': {
        const optedIn = { [`aws:ResourceTag/${SEED_FOR_TAG}`]: this.stackTagValue };
        const seedKeys = [STACK_TAG, RUN_TAG, PRESERVES_SEED_OF_TAG, SEED_VOLUME_TAG];
        return [
          // powerOffSeed: both the instance and the volume must carry the opt-in (DetachVolume checks both).
          new iam.PolicyStatement({
            actions: ['ec2:StopInstances', 'ec2:DetachVolume'],
            resources: [instances, volumes],
            conditions: { StringEquals: optedIn },
          }),
          new iam.PolicyStatement({
            actions: ['ec2:CreateSnapshot'],
            resources: [volumes],
            conditions: { StringEquals: optedIn },
          }),
          new iam.PolicyStatement({
            actions: ['ec2:CreateSnapshot'],
            resources: [snapshots],
            conditions: { StringEquals: this.ownRequest() },
          }),
          new iam.PolicyStatement({
            actions: ['ec2:CreateTags'],
            resources: [snapshots],
            conditions: { StringEquals: { 'ec2:CreateAction': 'CreateSnapshot', ...this.ownRequest() } },
          }),
          new iam.PolicyStatement({
            actions: ['ec2:CreateTags'],
            resources: [volumes, snapshots],
            conditions: { StringEquals: optedIn, 'ForAllValues:StringEquals': { 'aws:TagKeys': seedKeys } },
          }),
          // A target volume from a seed snapshot: CreateVolume is checked on the snapshot as well as the volume.
          new iam.PolicyStatement({
            actions: ['ec2:CreateVolume'],
            resources: [snapshots],
            conditions: { StringEquals: optedIn },
          }),
        ];
      }
      case 'ssm:healthChecks':
        return runCommandStatements(this.arn, this.stack, {
          stackTagValue: this.stackTagValue,
          ownDocuments: config.healthCheckDocuments,
        });
      case 'ebs:read':
        return [
          new iam.PolicyStatement({
            actions: ['ebs:ListSnapshotBlocks', 'ebs:ListChangedBlocks', 'ebs:GetSnapshotBlock'],
            resources: [snapshots],
            conditions: { StringEquals: this.ownResource() },
          }),
        ];
    }
  }
}
