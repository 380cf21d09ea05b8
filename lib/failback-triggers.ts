import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FAILBACK_REQUESTED_EVENT } from '../core/failback/deployment-names.js';
import type { MethodStateMachine } from './failback-state-machine.js';
import { eventBridgeRole, ruleDeadLetterQueue } from './rule-delivery.js';

export interface FailbackTriggersProps {
  /**
   * One per method: a "Failback Requested" event whose `detail.method` is the method's name starts its state machine
   * (the rule's construct id is `Rule<constructId>`).
   */
  readonly routes: readonly MethodStateMachine[];
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
 * failback, separate from the account's default bus) and, per method, a rule on the "Failback Requested" event with
 * that `detail.method` whose `detail` — the failback request — becomes the input of that method's state machine. An
 * event naming no deployed method matches no rule (ValidateRequest's UnknownMethodError cannot run: nothing starts).
 * The rules' role may start executions of the methods' state machines only; a request that cannot be delivered
 * lands, with the error, in an encrypted dead-letter queue.
 *
 * EventBridge names the execution itself (CloudFormation's rule target has no execution-name parameter), so two
 * deliveries of one event start two executions; see README "Limits". `homebound start --name` is idempotent.
 */
export class FailbackTriggers extends Construct {
  readonly eventBus: events.EventBus;
  /** The rules by method name. */
  readonly rules: Readonly<Record<string, events.Rule>>;
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
      "homebound: lets the Failback Requested rules start their method's failback",
    );
    const rules: Record<string, events.Rule> = {};
    for (const route of props.routes) {
      rules[route.method.name] = new events.Rule(this, `Rule${route.method.constructId}`, {
        eventBus: this.eventBus,
        description: `homebound: a Failback Requested event with detail.method "${route.method.name}" starts that method's failback with its detail as input`,
        eventPattern: {
          source: [FAILBACK_REQUESTED_EVENT.source],
          detailType: [FAILBACK_REQUESTED_EVENT.detailType],
          detail: { method: [route.method.name] },
        },
        targets: [
          new targets.SfnStateMachine(route.stateMachine, {
            input: events.RuleTargetInput.fromEventPath('$.detail'),
            role: this.role,
            deadLetterQueue: this.deadLetterQueue,
            maxEventAge: props.maxEventAge ?? Duration.hours(1),
            retryAttempts: props.retryAttempts ?? 10,
          }),
        ],
      });
    }
    this.rules = rules;
  }
}
