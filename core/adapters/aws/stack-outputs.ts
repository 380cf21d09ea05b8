import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { HomeboundError, RequestRejectedError } from '../../errors.js';
import { STATE_MACHINE_ARN_OUTPUT } from '../../failback/deployment-names.js';
import { awsConfigurationError } from './aws-configuration.js';
import { AccessDeniedError } from './sfn-errors.js';

/** The stack is not deployed in this account and Region, or lacks the output. */
export class StackNotFoundError extends HomeboundError {}

/**
 * The automated failback's ARN from the deployed stack's outputs.
 * @throws StackNotFoundError (no such stack, or no such output), AccessDeniedError, AwsRegionMissingError,
 *   AwsCredentialsMissingError, RequestRejectedError (anything else)
 */
export async function stateMachineArnFromStack(
  cloudFormation: CloudFormationClient,
  stackName: string,
): Promise<string> {
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
  const output = response.Stacks?.[0]?.Outputs?.find((candidate) => candidate.OutputKey === STATE_MACHINE_ARN_OUTPUT);
  if (!output?.OutputValue) {
    throw new StackNotFoundError(
      `stack ${stackName} has no output ${STATE_MACHINE_ARN_OUTPUT}; is it a homebound stack?`,
    );
  }
  return output.OutputValue;
}
