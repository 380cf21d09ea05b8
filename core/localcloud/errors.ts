import { HomeboundError } from '../errors.js';

/** The restJson1 error types of the EBS direct API, with the HTTP status each one has in the service model. */
export const EBS_ERROR_STATUS = {
  AccessDeniedException: 403,
  ConflictException: 409,
  InternalServerException: 500,
  RequestThrottledException: 400,
  ResourceNotFoundException: 404,
  ServiceQuotaExceededException: 402,
  ValidationException: 400,
} as const;

export type EbsErrorType = keyof typeof EBS_ERROR_STATUS;

/**
 * A refusal the local EBS emulation answers with a specific EBS error type and Reason (values of the SDK's
 * `*ExceptionReason` enums), e.g. ValidationException / INVALID_BLOCK_TOKEN.
 */
export class EbsApiError extends HomeboundError {
  constructor(
    readonly errorType: EbsErrorType,
    readonly reason: string | undefined,
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    return EBS_ERROR_STATUS[this.errorType];
  }
}

/** ValidationException with a Reason: the request is malformed or names something that cannot be used. */
export function validationError(reason: string, message: string): EbsApiError {
  return new EbsApiError('ValidationException', reason, message);
}
