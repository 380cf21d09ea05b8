import { ArnFormat, type Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { LIVE_STATE, ROLE_TAG, STACK_TAG, STATE_TAG } from '../core/compute/port.js';
import type { Ec2Arn } from './launch-permissions.js';

/** The AWS-owned documents an `ssm` health check may always run (its default is AWS-RunShellScript). */
export const AWS_HEALTH_CHECK_DOCUMENTS = ['AWS-RunShellScript', 'AWS-RunPowerShellScript'] as const;

export interface RunCommandScope {
  /** This deployment's `homebound:stack` value. */
  readonly stackTagValue: string;
  /** The account's own documents a check may run besides the AWS-owned ones (`homebound:healthCheckDocuments`). */
  readonly ownDocuments: readonly string[];
}

/**
 * Run Command for `ssm` health checks. SendCommand is authorized on each resource it names: the instance must be
 * this stack's failback host — tested with `ssm:resourceTag/<key>`, the key Systems Manager documents for Run Command
 * on instances — and the document one of the allowed ones (AWS-owned documents have no account in their ARN); a
 * handed-over (live) host is denied. GetCommandInvocation and CancelCommand have no resource-level permissions.
 */
export function runCommandStatements(arn: Ec2Arn, stack: Stack, scope: RunCommandScope): iam.PolicyStatement[] {
  const instances = arn('instance', '*');
  const document = (name: string, awsOwned: boolean) =>
    stack.formatArn({ service: 'ssm', resource: 'document', resourceName: name, ...(awsOwned ? { account: '' } : {}) });
  return [
    new iam.PolicyStatement({
      actions: ['ssm:SendCommand'],
      resources: [instances],
      conditions: {
        StringEquals: {
          [`ssm:resourceTag/${STACK_TAG}`]: scope.stackTagValue,
          [`ssm:resourceTag/${ROLE_TAG}`]: 'failback',
        },
      },
    }),
    new iam.PolicyStatement({
      actions: ['ssm:SendCommand'],
      resources: [
        ...AWS_HEALTH_CHECK_DOCUMENTS.map((name) => document(name, true)),
        ...scope.ownDocuments.map((name) => document(name, false)),
      ],
    }),
    new iam.PolicyStatement({
      effect: iam.Effect.DENY,
      actions: ['ssm:SendCommand'],
      resources: [instances],
      conditions: { StringEquals: { [`ssm:resourceTag/${STATE_TAG}`]: LIVE_STATE } },
    }),
    new iam.PolicyStatement({ actions: ['ssm:GetCommandInvocation', 'ssm:CancelCommand'], resources: ['*'] }),
  ];
}

/**
 * The ENI actions Lambda performs with a function's role to place it in a VPC (AWSLambdaVPCAccessExecutionRole's
 * set, less the Describe* it also needs).
 */
const LAMBDA_ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];

export interface LambdaVpcScope {
  readonly subnetIds: readonly string[];
  readonly securityGroupId: string;
}

/**
 * What Lambda needs to place a function in the VPC (`inVpc` in lib/failback-task-settings.ts), narrower than
 * AWSLambdaVPCAccessExecutionRole: create network interfaces only in `subnetIds` with `securityGroupId`; manage and
 * delete this account's interfaces (Lambda picks their ids). The function's own code is denied every ENI change:
 * `lambda:SourceFunctionArn` is set only on calls made with the function's credentials, never on Lambda's own.
 */
export function lambdaVpcStatements(arn: Ec2Arn, stack: Stack, scope: LambdaVpcScope): iam.PolicyStatement[] {
  const networkInterfaces = arn('network-interface', '*');
  return [
    new iam.PolicyStatement({
      // DescribeNetworkInterfaces works only on Resource *; DescribeSubnets has no resource-level permissions.
      actions: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'],
      resources: ['*'],
    }),
    new iam.PolicyStatement({
      actions: ['ec2:CreateNetworkInterface'],
      resources: [
        networkInterfaces,
        ...scope.subnetIds.map((subnetId) => arn('subnet', subnetId)),
        arn('security-group', scope.securityGroupId),
      ],
    }),
    new iam.PolicyStatement({
      actions: LAMBDA_ENI_ACTIONS.filter((action) => action !== 'ec2:CreateNetworkInterface'),
      resources: [networkInterfaces],
    }),
    new iam.PolicyStatement({
      effect: iam.Effect.DENY,
      actions: LAMBDA_ENI_ACTIONS,
      resources: ['*'],
      // Any function: only the one function using this role can carry its credentials (its own ARN would be a cycle).
      conditions: {
        ArnLike: {
          'lambda:SourceFunctionArn': stack.formatArn({
            service: 'lambda',
            resource: 'function',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  ];
}
