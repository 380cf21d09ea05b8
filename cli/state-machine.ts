import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SFNClient } from '@aws-sdk/client-sfn';
import { type Command, InvalidArgumentError } from 'commander';
import { assertAwsConfigured } from '../core/adapters/aws/aws-configuration.js';
import {
  FailbackExecutions,
  parseStateMachineArn,
  type RunStatus,
  stateMachineArnOfExecution,
} from '../core/adapters/aws/failback-executions.js';
import { RunNotFoundError } from '../core/adapters/aws/sfn-errors.js';
import {
  StackNotFoundError,
  stateMachineArnFromStack,
  stateMachineArnsFromStack,
} from '../core/adapters/aws/stack-outputs.js';
import { InvalidInputError } from '../core/errors.js';
import type { FailbackMethod } from '../core/methods/method.js';
import { failbackMethods } from '../core/methods/registry.js';

export interface StateMachineOptions {
  stateMachineArn?: string;
  stackName: string;
}

/** Adds the options that say which deployed state machine a command talks to. */
export function withStateMachineOptions(command: Command): Command {
  const outputs = failbackMethods.map((method) => method.stateMachineArnOutput).join(', ');
  return command
    .option(
      '--state-machine-arn <arn>',
      "the failback state machine (default: $HOMEBOUND_STATE_MACHINE_ARN, else the method's stack output)",
      (value: string) => {
        try {
          return parseStateMachineArn(value, '--state-machine-arn');
        } catch (error) {
          throw new InvalidArgumentError((error as Error).message);
        }
      },
    )
    .option('--stack-name <name>', `the homebound stack whose state machine outputs (${outputs}) to use`, 'Homebound');
}

/** --state-machine-arn, else HOMEBOUND_STATE_MACHINE_ARN: an ARN the operator gave, which wins over the stack. */
function givenArn(options: StateMachineOptions, env: NodeJS.ProcessEnv): string | undefined {
  const fromEnv = env.HOMEBOUND_STATE_MACHINE_ARN;
  return (
    options.stateMachineArn ??
    (fromEnv === undefined || fromEnv === ''
      ? undefined
      : parseStateMachineArn(fromEnv, 'environment variable HOMEBOUND_STATE_MACHINE_ARN'))
  );
}

/** Step Functions in the state machine's Region (whatever AWS_REGION says), checked configured before any call. */
async function executionsOf(arn: string): Promise<FailbackExecutions> {
  const region = arn.split(':')[3];
  if (!region) throw new InvalidInputError(`state machine ARN ${arn} names no Region`);
  const sfn = new SFNClient({ region });
  await assertAwsConfigured(sfn, { purpose: `Step Functions (state machine ${arn})` });
  return new FailbackExecutions(sfn, arn);
}

/**
 * The deployed state machine of `method` (`homebound start`: the request's method): --state-machine-arn, else
 * HOMEBOUND_STATE_MACHINE_ARN, else the method's output of the stack. Region and credentials come from the SDK's
 * default chain (AWS_REGION, profile, role).
 * @throws InvalidInputError (a malformed HOMEBOUND_STATE_MACHINE_ARN), AwsRegionMissingError,
 *   AwsCredentialsMissingError (checked before any call), StackNotFoundError, AccessDeniedError
 */
export async function deployedFailback(
  options: StateMachineOptions,
  method: FailbackMethod,
  env: NodeJS.ProcessEnv = process.env,
): Promise<FailbackExecutions> {
  const arn =
    givenArn(options, env) ??
    (await stateMachineArnFromStack(await cloudFormationFor(options), options.stackName, method));
  return executionsOf(arn);
}

/**
 * Where a run stands (`homebound status`), on whichever method's state machine it ran: the given ARN's
 * (--state-machine-arn, HOMEBOUND_STATE_MACHINE_ARN); else the one an execution ARN names; else every method's state
 * machine in the stack — the named run where it exists, or the latest run of all when none is named.
 * @throws as deployedFailback, and RunNotFoundError when no state machine has the run
 */
export async function runStatus(
  options: StateMachineOptions,
  run: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  methods: readonly FailbackMethod[] = failbackMethods,
): Promise<RunStatus> {
  const given = givenArn(options, env);
  if (given) return (await executionsOf(given)).status(run);
  if (run?.startsWith('arn:')) return (await executionsOf(stateMachineArnOfExecution(run))).status(run);
  const deployed = await stateMachineArnsFromStack(await cloudFormationFor(options), options.stackName, methods);
  if (deployed.length === 0) {
    throw new StackNotFoundError(
      `stack ${options.stackName} has no failback state machine output; is it a homebound stack?`,
    );
  }
  const found: RunStatus[] = [];
  let notFound: RunNotFoundError | undefined;
  for (const { arn } of deployed) {
    try {
      found.push(await (await executionsOf(arn)).status(run));
      if (run !== undefined) break;
    } catch (error) {
      if (!(error instanceof RunNotFoundError)) throw error;
      notFound ??= error;
    }
  }
  const latest = found.sort((a, b) => b.startDate.localeCompare(a.startDate))[0];
  if (latest) return latest;
  throw notFound ?? new RunNotFoundError(run ?? `of stack ${options.stackName}`);
}

/** CloudFormation for the stack lookup; the client reads Region and credentials from the SDK's chain (process.env). */
async function cloudFormationFor(options: StateMachineOptions): Promise<CloudFormationClient> {
  const cloudFormation = new CloudFormationClient({});
  await assertAwsConfigured(cloudFormation, {
    purpose: `looking up stack ${options.stackName}`,
    regionAlternative: 'pass --state-machine-arn (its ARN names the Region)',
  });
  return cloudFormation;
}
