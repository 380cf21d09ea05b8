import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { ROLE_TAG } from '../core/compute/port.js';
import { RUN_TAG } from '../core/failback/run-state.js';
import type { HomeboundConfig } from './config.js';
import type { Staging } from './staging.js';

/**
 * What a failback function may do, one capability per value. EC2 rights are scoped by tags: what homebound creates
 * carries `homebound:run` (required at creation), takeover hosts carry the configured takeover tag.
 */
export type FailbackAccess =
  /** Describe instances, volumes, snapshots (EC2 Describe* has no resource-level permissions). */
  | 'ec2:describe'
  /** RunInstances/CreateVolume only with a `homebound:run` tag, from the configured image and subnet. */
  | 'ec2:launch'
  /**
   * Pass the sync gateway role to EC2 (RunInstances with the gateway's instance profile). Only PrepareTarget launches
   * gateways; failback hosts start without a profile, so LaunchFailbackHosts passes no role.
   */
  | 'iam:passGatewayRole'
  /** Attach/detach volumes homebound created to/from instances homebound launched. */
  | 'ec2:moveVolumes'
  /** Start/stop takeover hosts and the instances homebound launched. */
  | 'ec2:power'
  /** Crash-consistent snapshots of takeover hosts, tagged `homebound:run`. */
  | 'ec2:snapshot'
  | 'ec2:deleteSnapshots'
  /** Tag a takeover host with `homebound:run` / `homebound:failed-back-to` once it is retired. */
  | 'ec2:retire'
  /** Terminate sync gateways (role `gateway`), never a takeover or failback host. */
  | 'ec2:terminateGateway'
  /** EBS direct API reads of snapshots homebound took. */
  | 'ebs:read'
  /** Read, write and delete under `runs/` (staged passes) and `records/` (run records) in staging. */
  | 'staging';

export interface FailbackPermissionsProps {
  readonly config: HomeboundConfig;
  readonly staging: Staging;
  /** The sync gateway's role: functions pass it to EC2 and nothing else. */
  readonly gatewayRole: iam.IRole;
}

const tagPresent = (key: string) => ({ Null: { [`aws:ResourceTag/${key}`]: 'false' } });
const requestTagPresent = (key: string) => ({ Null: { [`aws:RequestTag/${key}`]: 'false' } });

/** Builds the IAM statements behind each FailbackAccess for one stack. */
export class FailbackPermissions {
  private readonly arn: (resource: string, name: string, withAccount?: boolean) => string;

  constructor(
    scope: Construct,
    private readonly props: FailbackPermissionsProps,
  ) {
    const stack = Stack.of(scope);
    this.arn = (resource, resourceName, withAccount = true) =>
      stack.formatArn({ service: 'ec2', resource, resourceName, ...(withAccount ? {} : { account: '' }) });
  }

  /** Grants every capability in `accesses` to `role`. */
  grant(role: iam.IRole, accesses: readonly FailbackAccess[]): void {
    for (const access of accesses) {
      if (access === 'staging') {
        this.props.staging.grantObjects(role, 'readWrite', 'runs/*');
        this.props.staging.grantObjects(role, 'readWrite', 'records/*');
      } else for (const statement of this.statements(access)) role.addToPrincipalPolicy(statement);
    }
  }

  private statements(access: Exclude<FailbackAccess, 'staging'>): iam.PolicyStatement[] {
    const { config, gatewayRole } = this.props;
    const takeover = { StringEquals: { [`aws:ResourceTag/${config.takeoverTag.key}`]: config.takeoverTag.value } };
    const instances = this.arn('instance', '*');
    const volumes = this.arn('volume', '*');
    const snapshots = this.arn('snapshot', '*', false);
    switch (access) {
      case 'ec2:describe':
        return [
          new iam.PolicyStatement({
            actions: ['ec2:DescribeInstances', 'ec2:DescribeVolumes', 'ec2:DescribeSnapshots'],
            resources: ['*'],
          }),
        ];
      case 'ec2:launch': {
        const groups = config.securityGroupIds.length > 0 ? config.securityGroupIds : ['*'];
        return [
          new iam.PolicyStatement({
            actions: ['ec2:RunInstances', 'ec2:CreateVolume'],
            resources: [instances, volumes],
            conditions: requestTagPresent(RUN_TAG),
          }),
          new iam.PolicyStatement({
            actions: ['ec2:RunInstances'],
            resources: [
              this.arn('image', config.imageId, false),
              this.arn('subnet', config.subnetId),
              this.arn('network-interface', '*'),
              ...groups.map((group) => this.arn('security-group', group)),
            ],
          }),
          new iam.PolicyStatement({
            actions: ['ec2:CreateTags'],
            resources: [instances, volumes],
            conditions: { StringEquals: { 'ec2:CreateAction': ['RunInstances', 'CreateVolume'] } },
          }),
        ];
      }
      case 'iam:passGatewayRole':
        return [
          new iam.PolicyStatement({
            actions: ['iam:PassRole'],
            resources: [gatewayRole.roleArn],
            conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
          }),
        ];
      case 'ec2:moveVolumes':
        // Instance and volume are both checked: each must carry homebound:run.
        return [
          new iam.PolicyStatement({
            actions: ['ec2:AttachVolume', 'ec2:DetachVolume'],
            resources: [instances, volumes],
            conditions: tagPresent(RUN_TAG),
          }),
        ];
      case 'ec2:power':
        return [
          new iam.PolicyStatement({
            actions: ['ec2:StartInstances', 'ec2:StopInstances'],
            resources: [instances],
            conditions: tagPresent(RUN_TAG),
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
            conditions: requestTagPresent(RUN_TAG),
          }),
          new iam.PolicyStatement({
            actions: ['ec2:CreateTags'],
            resources: [snapshots],
            conditions: { StringEquals: { 'ec2:CreateAction': 'CreateSnapshots' } },
          }),
        ];
      case 'ec2:deleteSnapshots':
        return [
          new iam.PolicyStatement({
            actions: ['ec2:DeleteSnapshot'],
            resources: [snapshots],
            conditions: tagPresent(RUN_TAG),
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
      case 'ec2:terminateGateway':
        return [
          new iam.PolicyStatement({
            actions: ['ec2:TerminateInstances'],
            resources: [instances],
            conditions: { StringEquals: { [`aws:ResourceTag/${ROLE_TAG}`]: 'gateway' }, ...tagPresent(RUN_TAG) },
          }),
        ];
      case 'ebs:read':
        return [
          new iam.PolicyStatement({
            actions: ['ebs:ListSnapshotBlocks', 'ebs:ListChangedBlocks', 'ebs:GetSnapshotBlock'],
            resources: [snapshots],
            conditions: tagPresent(RUN_TAG),
          }),
        ];
    }
  }
}
