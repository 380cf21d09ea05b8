import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { eventBridgeRole, ruleDeadLetterQueue } from './rule-delivery.js';

/** The execution statuses operators hear about: every way a run can end. */
export const NOTIFIED_STATUSES = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const;

export interface OperatorNotificationsProps {
  /** The state machines (one per method) whose runs are reported. */
  readonly stateMachines: readonly sfn.IStateMachine[];
  /** Addresses subscribed to the topic; each confirms by mail before it receives anything. @default none */
  readonly emails?: readonly string[];
}

/**
 * The operators' notification topic and the rule that reports every ended run on it. The topic is encrypted with a
 * key of its own and accepts only TLS publishers; EventBridge publishes through a role (sns:Publish on this topic,
 * the key's data-key actions), so the topic policy grants no service principal. The message names the run, its
 * status and a console link — never the execution's input or output: the state passed to RequestApproval carries the
 * approval task token, and a notification travels by mail. Other alarms (the dashboard's) publish here as well.
 */
export class OperatorNotifications extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;
  readonly statusRule: events.Rule;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: OperatorNotificationsProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'homebound operator notifications',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // CloudWatch alarms publish with the service principal; they need the key too (Amazon SNS: encrypted topics).
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'homebound',
      masterKey: this.key,
      enforceSSL: true,
    });
    // Alarms on this topic (the dashboard's) publish as CloudWatch: the topic policy replaces SNS's default one.
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    for (const email of props.emails ?? []) this.topic.addSubscription(new subscriptions.EmailSubscription(email));

    this.deadLetterQueue = ruleDeadLetterQueue(this, 'the run-status notifications');

    const publisher = eventBridgeRole(
      this,
      'PublishRole',
      'homebound: lets the run-status rule publish to the notification topic',
    );
    publisher.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.topic.topicArn] }),
    );
    publisher.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [this.key.keyArn] }),
    );

    const field = events.EventField;
    const link = `https://${field.region}.console.aws.amazon.com/states/home?region=${field.region}#/v2/executions/details/${field.fromPath('$.detail.executionArn')}`;
    const message = events.RuleTargetInput.fromText(
      `homebound run ${field.fromPath('$.detail.name')} ended ${field.fromPath('$.detail.status')} at ${field.time}. ` +
        `Console: ${link} - or run: homebound status ${field.fromPath('$.detail.name')}`,
    );
    this.statusRule = new events.Rule(this, 'RunEnded', {
      description: 'homebound: a failback run ended (succeeded, failed, timed out or aborted)',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: props.stateMachines.map((machine) => machine.stateMachineArn),
          status: [...NOTIFIED_STATUSES],
        },
      },
    });
    this.statusRule.addTarget(
      new PublishWithRole(this.topic, publisher, message, {
        deadLetterQueue: this.deadLetterQueue,
        maxEventAge: Duration.hours(24),
        retryAttempts: 185,
      }),
    );
  }
}

/**
 * An SNS target that publishes through `role` and grants the role nothing itself: CDK's SnsTopic target would grant
 * `kms:GenerateDataKey*` (a wildcard action) or the events service principal on the topic policy.
 */
class PublishWithRole implements events.IRuleTarget {
  constructor(
    private readonly topic: sns.ITopic,
    private readonly role: iam.IRole,
    private readonly message: events.RuleTargetInput,
    private readonly base: targets.TargetBaseProps & { readonly deadLetterQueue: sqs.IQueue },
  ) {}

  bind(rule: events.IRule): events.RuleTargetConfig {
    targets.addToDeadLetterQueueResourcePolicy(rule, this.base.deadLetterQueue);
    return {
      ...targets.bindBaseTargetConfig(this.base),
      arn: this.topic.topicArn,
      role: this.role,
      input: this.message,
      targetResource: this.topic,
    };
  }
}
