import { readFileSync } from 'node:fs';
import { Stack, Token } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { AGENT_ACTIVITY_PLACEHOLDER } from '../core/methods/conditional-automated.js';
import { definitionPath, type FailbackMethod } from '../core/methods/method.js';

/** The stack output the agent's config takes its `activityArn` from (docs/agent.md). */
export const AGENT_ACTIVITY_ARN_OUTPUT = 'AgentActivityArn';

/** Whether the method's ASL schedules Activity Tasks on the agent activity (has its placeholder). */
export function usesAgentActivity(method: Pick<FailbackMethod, 'aslFile'>): boolean {
  return readFileSync(definitionPath(method), 'utf8').includes(`\${${AGENT_ACTIVITY_PLACEHOLDER}}`);
}

/**
 * `<stack name in lower case>-agent`: `homebound-agent` for the default stack name, and one activity per stack, so
 * two deployments in one account and Region never hand each other's tasks to the wrong agent.
 * @throws Error when the stack name is unresolved (a token) or the name would exceed the 80 characters allowed
 */
export function agentActivityName(stack: Stack): string {
  if (Token.isUnresolved(stack.stackName)) {
    throw new Error('the agent activity is named after the stack: give the stack a name (homebound:stackName)');
  }
  const name = `${stack.stackName.toLowerCase()}-agent`;
  if (name.length > 80) throw new Error(`the agent activity name ${name} is longer than 80 characters`);
  return name;
}

/**
 * The Step Functions Activity the on-prem agent answers (`homebound agent`, docs/agent.md): the conditional-automated
 * state machine's on-prem steps are Activity Tasks on it. Nothing is granted here: a state machine needs no IAM
 * permission to schedule an Activity Task on an activity encrypted with an AWS-owned key (CDK's own
 * StepFunctionsInvokeActivity grants only KMS use, for a customer-managed key), and the agent's role
 * (lib/agent-role.ts) is the one principal given GetActivityTask on it.
 *
 * Why not a customer-managed key: the task input holds the run key the agent MACs its acks with, which the execution
 * history already holds encrypted with the approvals key; a key of its own would add a key policy every agent must be
 * named in, and protect nothing GetActivityTask (the agent's alone) does not.
 */
export class AgentActivity extends Construct {
  readonly activity: sfn.Activity;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.activity = new sfn.Activity(this, 'Activity', { activityName: agentActivityName(Stack.of(this)) });
  }

  /** The state machine substitutions of its ASL placeholder: `{ AgentActivityArn: <ARN> }`. */
  substitutions(): Record<typeof AGENT_ACTIVITY_PLACEHOLDER, string> {
    return { [AGENT_ACTIVITY_PLACEHOLDER]: this.activity.activityArn };
  }
}
