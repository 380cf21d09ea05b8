import { RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { FailbackTaskName } from '../core/failback/tasks.js';
import { type AppFunction, PROJECT_ROOT } from './app-function.js';
import type { ApprovalKey } from './approval-key.js';
import { allowWildcards } from './nag.js';

export const AUTOMATED_FAILBACK_ASL = 'statemachines/automated-failback.asl.json';

export interface AutomatedFailbackStateMachineProps {
  readonly functions: Readonly<Record<FailbackTaskName, AppFunction>>;
  /**
   * Encrypts the definition and execution history (RequestApproval's parameters hold the task token), so reading
   * history takes kms:Decrypt on this key, which only the roles in its policy have. @default an AWS-owned key
   */
  readonly encryptionKey?: ApprovalKey;
}

/**
 * The automated failback (Standard: it waits for a task token) from the same ASL file the local runner executes.
 * Every `${<Task>FunctionArn}` placeholder is bound to its function. Logs record every event but no execution data:
 * the RequestApproval payload carries the task token, which would let anyone who can read the logs end the approval
 * wait (VerifyDecision then refuses a wait ended without a recorded decision; docs/approvals.md).
 */
export class AutomatedFailbackStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: AutomatedFailbackStateMachineProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const functions = Object.entries(props.functions);
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(`${PROJECT_ROOT}${AUTOMATED_FAILBACK_ASL}`),
      definitionSubstitutions: Object.fromEntries(
        functions.map(([name, fn]) => [`${name}FunctionArn`, fn.function.functionArn]),
      ),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      ...(props.encryptionKey
        ? { encryptionConfiguration: new sfn.CustomerManagedEncryptionConfiguration(props.encryptionKey.key) }
        : {}),
    });
    props.encryptionKey?.allowStateMachine(this.stateMachine.role);
    for (const [, fn] of functions) fn.function.grantInvoke(this.stateMachine);
    allowWildcards(this.stateMachine.role, ['noResourceLevel', 'functionVersions']);
  }
}
