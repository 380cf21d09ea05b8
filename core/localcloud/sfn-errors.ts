import { HomeboundError } from '../errors.js';
import {
  ActivityDoesNotExistError,
  InvalidActivityNameError,
  TaskDoesNotExistError,
  TaskTimedOutError,
} from '../orchestration/errors.js';

/**
 * The awsJson1_0 error types the local activity API answers with: the `__type` names @aws-sdk/client-sfn turns into
 * its exception classes (TaskDoesNotExist, …), and the generic ones every JSON service shares.
 */
export type SfnErrorType =
  | 'ActivityDoesNotExist'
  | 'InvalidArn'
  | 'InvalidName'
  | 'InvalidOutput'
  | 'TaskDoesNotExist'
  | 'TaskTimedOut'
  | 'ValidationException'
  | 'UnknownOperationException'
  | 'SerializationException'
  | 'UnrecognizedClientException'
  | 'InvalidSignatureException'
  | 'InternalFailure';

/** A refusal of the local activity API with the error type Step Functions would answer. */
export class SfnApiError extends HomeboundError {
  constructor(
    readonly errorType: SfnErrorType,
    message: string,
  ) {
    super(message);
  }

  /** Step Functions answers every client error with 400; only its own failures are 500. */
  get status(): number {
    return this.errorType === 'InternalFailure' ? 500 : 400;
  }
}

/**
 * The one place where errors of the activity queues and the task-token registry become Step Functions error types.
 * @param arnField true when the request's ARN is what a name error is about (InvalidArn rather than InvalidName).
 */
export function toSfnApiError(error: unknown, arnField = true): SfnApiError {
  if (error instanceof SfnApiError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof TaskDoesNotExistError) return new SfnApiError('TaskDoesNotExist', message);
  if (error instanceof TaskTimedOutError) return new SfnApiError('TaskTimedOut', message);
  if (error instanceof ActivityDoesNotExistError) return new SfnApiError('ActivityDoesNotExist', message);
  if (error instanceof InvalidActivityNameError)
    return new SfnApiError(arnField ? 'InvalidArn' : 'InvalidName', message);
  return new SfnApiError('InternalFailure', `internal error: ${message}`);
}
