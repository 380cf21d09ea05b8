import { NagSuppressions } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/**
 * The wildcard resources homebound's IAM policies need, each with why. A suppression matches only its own pattern,
 * so any other wildcard still fails the cdk-nag test.
 */
const WILDCARDS = {
  noResourceLevel: {
    pattern: /^Resource::\*$/,
    reason:
      'Resource * only for actions without resource-level permissions: ec2:Describe*, xray:PutTraceSegments/' +
      'PutTelemetryRecords, ssm:GetCommandInvocation/CancelCommand (health checks), and the CloudWatch Logs ' +
      'delivery actions Step Functions logging uses.',
  },
  ec2TagScoped: {
    pattern:
      /^Resource::arn:<AWS::Partition>:ec2:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|\d{12})?:(instance|volume|snapshot)\/\*$/,
    reason:
      'Instance, volume and snapshot ids exist only at run time; each statement is limited by a tag condition ' +
      '(homebound:stack=<this stack> on create and change, homebound:role, the takeover tag, homebound:state=live in ' +
      'the denies; ssm:resourceTag for ssm:SendCommand), except CreateSnapshots on the volumes of a tag-checked ' +
      'takeover instance.',
  },
  launchNetwork: {
    pattern:
      /^Resource::arn:<AWS::Partition>:ec2:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|\d{12}):network-interface\/\*$/,
    reason:
      'RunInstances creates a network interface (its id is new); image, subnet and security groups are pinned to ' +
      'the configured ones and the stack-made gateway group.',
  },
  lambdaNetworkInterfaces: {
    pattern:
      /^Resource::arn:<AWS::Partition>:ec2:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|\d{12}):network-interface\/\*$/,
    reason:
      'A function in the VPC: Lambda creates and deletes its network interfaces (ids it chooses) with the role; the ' +
      "creation is pinned to the configured subnet and the health-check group, and the function's own code is " +
      'denied every ENI change (lambda:SourceFunctionArn).',
  },
  stagingPrefix: {
    pattern: /^Resource::<[A-Za-z0-9]*StagingBucket[A-Za-z0-9]*\.Arn>\/(runs|records)\/.*$/,
    reason:
      'Staging keys start with the run id, known only at run time; access is limited to runs/ and records/ (and the ' +
      "gateway's writes to its own ack/apply-error objects).",
  },
  ownExecutions: {
    pattern:
      /^Resource::arn:<AWS::Partition>:states:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|\d{12}):execution:<[A-Za-z0-9]*StateMachine[A-Za-z0-9]*\.Name>\/\*$/,
    reason:
      "A Distributed Map's child executions get their ids at run time; DescribeExecution/StopExecution are limited " +
      "to this state machine's map runs' children (execution:<its name>/*).",
  },
  functionVersions: {
    pattern: /^Resource::<[A-Za-z0-9]*Function[A-Za-z0-9]*\.Arn>:\*$/,
    reason: 'lambda:InvokeFunction on the failback functions and their versions/aliases (CDK grantInvoke).',
  },
} as const;

export type WildcardKind = keyof typeof WILDCARDS;

/** Suppresses AwsSolutions-IAM5 on `construct` and its children for exactly the listed wildcard kinds. */
export function allowWildcards(construct: IConstruct, kinds: readonly WildcardKind[]): void {
  NagSuppressions.addResourceSuppressions(
    construct,
    kinds.map((kind) => ({
      id: 'AwsSolutions-IAM5',
      reason: WILDCARDS[kind].reason,
      appliesTo: [{ regex: `/${WILDCARDS[kind].pattern.source}/g` }],
    })),
    true,
  );
}
