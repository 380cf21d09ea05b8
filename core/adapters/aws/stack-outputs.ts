import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { HomeboundError, RequestRejectedError } from '../../errors.js';
import type { FailbackMethod } from '../../methods/method.js';
import { awsConfigurationError } from './aws-configuration.js';
import { AccessDeniedError } from './sfn-errors.js';

/** The stack is not deployed in this account and Region, or lacks the output. */
export class StackNotFoundError extends HomeboundError {}

type StackMethod = Pick<FailbackMethod, 'name' | 'stateMachineArnOutput'>;

/**
 * A method's state machine ARN from the deployed stack's outputs (the method's `stateMachineArnOutput`).
 * @throws StackNotFoundError (no such stack, or no such output), AccessDeniedError, AwsRegionMissingError,
 *   AwsCredentialsMissingError, RequestRejectedError (anything else)
 */
export async function stateMachineArnFromStack(
  cloudFormation: CloudFormationClient,
  stackName: string,
  method: StackMethod,
): Promise<string> {
  const [found] = await stateMachineArnsFromStack(cloudFormation, stackName, [method]);
  if (!found) {
    throw new StackNotFoundError(
      `stack ${stackName} has no output ${method.stateMachineArnOutput} (the ${method.name} method's state machine); is it a homebound stack of this version?`,
    );
  }
  return found.arn;
}

/**
 * The state machine ARNs of those `methods` the deployed stack has an output for, in their order, from one
 * DescribeStacks call (a stack deployed before a method existed simply lacks its output).
 * @throws as stateMachineArnFromStack, but StackNotFoundError only for a stack that does not exist
 */
export async function stateMachineArnsFromStack<M extends StackMethod>(
  cloudFormation: CloudFormationClient,
  stackName: string,
  methods: readonly M[],
): Promise<{ method: M; arn: string }[]> {
  const response = await cloudFormation
    .send(new DescribeStacksCommand({ StackName: stackName }))
    .catch((error: unknown) => {
      const name = error instanceof Error ? error.name : '';
      const message = error instanceof Error ? error.message : String(error);
      const unconfigured = awsConfigurationError(error, {
        purpose: `DescribeStacks on ${stackName}`,
        regionAlternative: 'pass --state-machine-arn (its ARN names the Region)',
      });
      if (unconfigured) throw unconfigured;
      if (name === 'ValidationError' && /does not exist/.test(message)) {
        throw new StackNotFoundError(
          `stack ${stackName} does not exist in this account and Region; deploy it, set AWS_REGION, or pass --stack-name or --state-machine-arn`,
          { cause: error },
        );
      }
      if (name === 'AccessDenied' || name === 'AccessDeniedException') {
        throw new AccessDeniedError(
          `AWS denied DescribeStacks on ${stackName}: ${message} (grant cloudformation:DescribeStacks, or pass --state-machine-arn)`,
          { cause: error },
        );
      }
      throw new RequestRejectedError(`DescribeStacks on ${stackName}: ${name}: ${message}`, { cause: error });
    });
  const outputs = response.Stacks?.[0]?.Outputs ?? [];
  return methods.flatMap((method) => {
    const arn = outputs.find((output) => output.OutputKey === method.stateMachineArnOutput)?.OutputValue;
    return arn ? [{ method, arn }] : [];
  });
}
