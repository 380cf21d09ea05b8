import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { passMapPatterns } from '../core/failback/run-state.js';
import type { FailbackTaskName } from '../core/failback/task-names.js';
import type { FailbackMethod } from '../core/methods/method.js';
import { type AppFunction, PROJECT_ROOT } from './app-function.js';
import type { ApprovalKey } from './approval-key.js';
import { allowWildcards } from './nag.js';
import type { Staging } from './staging.js';

/** A method's deployed state machine, as the constructs that watch or start it need it (triggers, monitoring). */
export interface MethodStateMachine {
  readonly method: Pick<FailbackMethod, 'name' | 'constructId'>;
  readonly stateMachine: sfn.IStateMachine;
}

export interface FailbackStateMachineProps {
  /** The method deployed: its ASL file and the tasks that file binds (core/methods/registry.ts). */
  readonly method: FailbackMethod;
  /** Every task's function (lib/failback-functions.ts); only the method's own are bound and may be invoked. */
  readonly functions: Readonly<Record<FailbackTaskName, AppFunction>>;
  /** The stack's staging bucket: the StreamPass Distributed Map reads its items there and writes its results. */
  readonly staging: Staging;
  /**
   * Encrypts the definition and execution history (RequestApproval's parameters hold the task token), so reading
   * history takes kms:Decrypt on this key, which only the roles in its policy have. @default an AWS-owned key
   */
  readonly encryptionKey?: ApprovalKey;
  /**
   * Placeholders of the ASL that are not Lambda tasks, by name (e.g. an Activity's ARN); granting the state machine
   * what they need is the caller's part. @default none
   */
  readonly otherSubstitutions?: Readonly<Record<string, string>>;
}

/**
 * One failback method's state machine (Standard: it waits for task tokens) from the same ASL file the local runner
 * executes. Every `${<Task>FunctionArn}` placeholder of the method's tasks is bound to its function, and the machine
 * may invoke those functions only. Logs record every event but no execution data: the RequestApproval payload
 * carries the task token, which would let anyone who can read the logs end the approval wait (VerifyDecision then
 * refuses a wait ended without a recorded decision; docs/approvals.md).
 *
 * Its construct id should be the method's `constructId`: the automated method's was the id of the construct this one
 * replaced, so its state machine and log group keep their logical ids.
 */
export class FailbackStateMachine extends Construct implements MethodStateMachine {
  readonly method: FailbackMethod;
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: FailbackStateMachineProps) {
    super(scope, id);
    this.method = props.method;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const functions = props.method.tasks.map((name) => [name, props.functions[name]] as const);
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(`${PROJECT_ROOT}${props.method.aslFile}`),
      definitionSubstitutions: {
        ...props.otherSubstitutions,
        ...Object.fromEntries(functions.map(([name, fn]) => [`${name}FunctionArn`, fn.function.functionArn])),
      },
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      ...(props.encryptionKey
        ? { encryptionConfiguration: new sfn.CustomerManagedEncryptionConfiguration(props.encryptionKey.key) }
        : {}),
    });
    props.encryptionKey?.allowStateMachine(this.stateMachine.role);
    for (const [, fn] of functions) fn.function.grantInvoke(this.stateMachine);
    this.allowDistributedMap(props.staging);
    allowWildcards(this.stateMachine.role, ['noResourceLevel', 'functionVersions']);
  }

  /**
   * What the StreamPass Distributed Map needs (AWS: "IAM policies for using Distributed Map states"), and nothing
   * wider: start child executions of this machine, describe and stop them (`execution:<name>/*` is a map run's
   * children: `<name>/<label or state name>:<id>`), read a pass's items, write its results (the actions CDK's own
   * ResultWriter grants), and the staging key for both. In a policy of its own, not the role's default one: the
   * machine depends on that (its role must be able to act before it exists), so the machine's own ARN there would be
   * a cycle; CDK attaches its Distributed Map grants the same way.
   */
  private allowDistributedMap(staging: Staging): void {
    const executions = Stack.of(this).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${this.stateMachine.stateMachineName}/*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const policy = new iam.Policy(this, 'DistributedMapPolicy', {
      statements: [
        new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachine.stateMachineArn] }),
        new iam.PolicyStatement({
          actions: ['states:DescribeExecution', 'states:StopExecution'],
          resources: [executions],
        }),
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [staging.bucket.arnForObjects(passMapPatterns.items)],
        }),
        new iam.PolicyStatement({
          actions: ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
          resources: [staging.bucket.arnForObjects(passMapPatterns.results)],
        }),
        // SSE-KMS: reading the items decrypts, writing the results generates a data key.
        new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [staging.key.keyArn] }),
      ],
    });
    this.stateMachine.role.attachInlinePolicy(policy);
    allowWildcards(policy, ['ownExecutions', 'stagingPrefix']);
  }
}
