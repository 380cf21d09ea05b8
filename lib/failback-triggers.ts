import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { FAILBACK_REQUESTED_EVENT } from '../core/failback/deployment-names.js';
import { eventBridgeRole, ruleDeadLetterQueue } from './rule-delivery.js';

export interface FailbackTriggersProps {
  /** The state machine a "Failback Requested" event starts. */
  readonly stateMachine: sfn.IStateMachine;
  /**
   * A request EventBridge could not deliver for this long goes to the dead-letter queue instead of starting late: a
   * failback that starts hours after it was asked for surprises the people watching for it.
   * @default 1 hour
   */
  readonly maxEventAge?: Duration;
  /** @default 10 */
  readonly retryAttempts?: number;
}

/**
 * Starting a failback from EventBridge: a bus of its own (so `events:PutEvents` on it is the permission to request a
 * failback, separate from the account's default bus) and a rule on the "Failback Requested" event whose `detail` —
 * the failback request — becomes the execution input. The rule's role may start executions of this state machine
 * only; a request that cannot be delivered lands, with the error, in an encrypted dead-letter queue.
 *
 * EventBridge names the execution itself (CloudFormation's rule target has no execution-name parameter), so two
 * deliveries of one event start two executions; see README "Limits". `homebound start --name` is idempotent.
 */
export class FailbackTriggers extends Construct {
  readonly eventBus: events.EventBus;
  readonly rule: events.Rule;
  readonly deadLetterQueue: sqs.Queue;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: FailbackTriggersProps) {
    super(scope, id);
    this.eventBus = new events.EventBus(this, 'Bus', {
      eventBusName: `${Stack.of(this).stackName}-failback-requests`,
      description: 'homebound: "Failback Requested" events; PutEvents here starts a failback',
    });
    this.deadLetterQueue = ruleDeadLetterQueue(this, 'the Failback Requested rule');
    this.role = eventBridgeRole(
      this,
      'Role',
      'homebound: lets the Failback Requested rule start the automated failback',
    );
    this.rule = new events.Rule(this, 'Rule', {
      eventBus: this.eventBus,
      description: 'homebound: a Failback Requested event starts the automated failback with its detail as input',
      eventPattern: { source: [FAILBACK_REQUESTED_EVENT.source], detailType: [FAILBACK_REQUESTED_EVENT.detailType] },
      targets: [
        new targets.SfnStateMachine(props.stateMachine, {
          input: events.RuleTargetInput.fromEventPath('$.detail'),
          role: this.role,
          deadLetterQueue: this.deadLetterQueue,
          maxEventAge: props.maxEventAge ?? Duration.hours(1),
          retryAttempts: props.retryAttempts ?? 10,
        }),
      ],
    });
  }
}
