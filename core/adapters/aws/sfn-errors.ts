import {
  HomeboundError,
  InvalidInputError,
  RequestRejectedError,
  ThrottledError,
  TransientError,
} from '../../errors.js';
import { awsConfigurationError } from './aws-configuration.js';

/** A run of this name exists already (running with another input, or ended within the last 90 days). */
export class RunAlreadyExistsError extends HomeboundError {
  constructor(
    readonly runId: string,
    options?: ErrorOptions,
  ) {
    super(
      `a run named "${runId}" exists already with another input or has ended (names stay taken for 90 days); nothing was started. ` +
        `Check it with \`homebound status ${runId}\`, or pass --name to start a new run`,
      options,
    );
  }
}

/** The state machine ARN names nothing in this account and Region. */
export class StateMachineNotFoundError extends HomeboundError {
  constructor(
    readonly stateMachineArn: string,
    options?: ErrorOptions,
  ) {
    super(`state machine ${stateMachineArn} does not exist (deployed in another Region or account?)`, options);
  }
}

/** No execution of that name or ARN. */
export class RunNotFoundError extends HomeboundError {
  constructor(
    readonly run: string,
    options?: ErrorOptions,
  ) {
    super(`no run ${run} (check the name, the Region and the state machine)`, options);
  }
}

/** IAM said no; the message names the action and resource so an administrator knows what to grant. */
export class AccessDeniedError extends HomeboundError {}

/** What a Step Functions call was doing, for the message. */
export interface SfnCallContext {
  /** e.g. `StartExecution` */
  readonly operation: string;
  /** The ARN or run name the call was about. */
  readonly target: string;
  /** The run a StartExecution was naming. */
  readonly runId?: string;
}

/**
 * The one place Step Functions errors become homebound errors, each naming what was asked and about what. The SDK
 * already retried throttling and 5xx by the time an error arrives here.
 */
export function mapSfnError(error: unknown, context: SfnCallContext): Error {
  if (error instanceof HomeboundError) return error;
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const options = { cause: error };
  const where = `${context.operation} on ${context.target}`;
  // Missing credentials reach here with no HTTP status: without this they would be called transient.
  const unconfigured = awsConfigurationError(error, { purpose: where });
  if (unconfigured) return unconfigured;
  switch (name) {
    case 'ExecutionAlreadyExists':
      return new RunAlreadyExistsError(context.runId ?? context.target, options);
    case 'StateMachineDoesNotExist':
    case 'StateMachineDeleting':
      return new StateMachineNotFoundError(context.target, options);
    case 'ExecutionDoesNotExist':
      return new RunNotFoundError(context.target, options);
    case 'AccessDeniedException':
    case 'AccessDenied':
      return new AccessDeniedError(
        `AWS denied ${where}: ${message} (the caller needs states:${context.operation} on it)`,
        options,
      );
    case 'InvalidArn':
    case 'InvalidName':
    case 'InvalidExecutionInput':
      return new InvalidInputError(`${where}: ${name}: ${message}`, options);
    case 'ThrottlingException':
    case 'ExecutionLimitExceeded':
      return new ThrottledError(`${where}: ${name}: ${message}`, options);
  }
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status === undefined || status >= 500) {
    return new TransientError(`${where} failed: ${name}: ${message}`, options);
  }
  return new RequestRejectedError(`${where}: ${name}: ${message}`, options);
}
