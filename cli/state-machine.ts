import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SFNClient } from '@aws-sdk/client-sfn';
import { type Command, InvalidArgumentError } from 'commander';
import { assertAwsConfigured } from '../core/adapters/aws/aws-configuration.js';
import { FailbackExecutions, parseStateMachineArn } from '../core/adapters/aws/failback-executions.js';
import { stateMachineArnFromStack } from '../core/adapters/aws/stack-outputs.js';
import { InvalidInputError } from '../core/errors.js';

export interface StateMachineOptions {
  stateMachineArn?: string;
  stackName: string;
}

/** Adds the options that say which deployed state machine a command talks to. */
export function withStateMachineOptions(command: Command): Command {
  return command
    .option(
      '--state-machine-arn <arn>',
      'the automated failback (default: $HOMEBOUND_STATE_MACHINE_ARN, else the stack output)',
      (value: string) => {
        try {
          return parseStateMachineArn(value, '--state-machine-arn');
        } catch (error) {
          throw new InvalidArgumentError((error as Error).message);
        }
      },
    )
    .option(
      '--stack-name <name>',
      'the homebound stack whose AutomatedFailbackStateMachineArn output to use',
      'Homebound',
    );
}

/**
 * The deployed automated failback: --state-machine-arn, else HOMEBOUND_STATE_MACHINE_ARN, else the stack's output.
 * Region and credentials come from the SDK's default chain (AWS_REGION, profile, role).
 * @throws InvalidInputError (a malformed HOMEBOUND_STATE_MACHINE_ARN), AwsRegionMissingError,
 *   AwsCredentialsMissingError (checked before any call), StackNotFoundError, AccessDeniedError
 */
export async function deployedFailback(
  options: StateMachineOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<FailbackExecutions> {
  const fromEnv = env.HOMEBOUND_STATE_MACHINE_ARN;
  const arn =
    options.stateMachineArn ??
    (fromEnv === undefined || fromEnv === ''
      ? await arnFromStack(options.stackName)
      : parseStateMachineArn(fromEnv, 'environment variable HOMEBOUND_STATE_MACHINE_ARN'));
  // Step Functions lives in the state machine's Region, whatever AWS_REGION says.
  const region = arn.split(':')[3];
  if (!region) throw new InvalidInputError(`state machine ARN ${arn} names no Region`);
  const sfn = new SFNClient({ region });
  await assertAwsConfigured(sfn, { purpose: `Step Functions (state machine ${arn})` });
  return new FailbackExecutions(sfn, arn);
}

/** The ARN from the stack's output; the client reads Region and credentials from the SDK's chain (process.env). */
async function arnFromStack(stackName: string): Promise<string> {
  const cloudFormation = new CloudFormationClient({});
  await assertAwsConfigured(cloudFormation, {
    purpose: `looking up stack ${stackName}`,
    regionAlternative: 'pass --state-machine-arn (its ARN names the Region)',
  });
  return stateMachineArnFromStack(cloudFormation, stackName);
}
