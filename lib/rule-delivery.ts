import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';

/**
 * The dead-letter queue of an EventBridge rule's target (`of` says whose, in the cdk-nag reasons): encrypted,
 * TLS-only, kept 14 days for operators to read; nothing consumes it.
 */
export function ruleDeadLetterQueue(scope: Construct, of: string): sqs.Queue {
  const queue = new sqs.Queue(scope, 'DeadLetterQueue', {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  NagSuppressions.addResourceSuppressions(queue, [
    {
      id: 'AwsSolutions-SQS3',
      reason: `This queue is the dead-letter queue of ${of}; operators read it, nothing consumes it.`,
    },
    {
      id: 'Serverless-SQSRedrivePolicy',
      reason: `This queue is itself the dead-letter queue of ${of}; it has no further one.`,
    },
  ]);
  return queue;
}

/**
 * A role only EventBridge rules of this account may assume, for a rule target to act through. The rule's own ARN
 * would make a dependency cycle, so the account is the condition.
 */
export function eventBridgeRole(scope: Construct, id: string, description: string): iam.Role {
  return new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal('events.amazonaws.com').withConditions({
      StringEquals: { 'aws:SourceAccount': Stack.of(scope).account },
    }),
    description,
  });
}
