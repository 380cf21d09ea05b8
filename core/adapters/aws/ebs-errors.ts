import {
  AccessDeniedException,
  InternalServerException,
  RequestThrottledException,
  ResourceNotFoundException,
  ValidationException,
} from '@aws-sdk/client-ebs';
import {
  HomeboundError,
  RequestRejectedError,
  SnapshotNotFoundError,
  ThrottledError,
  TransientError,
  UnrelatedSnapshotsError,
} from '../../errors.js';

export interface EbsCallContext {
  readonly operation: string;
  readonly snapshotId: string;
  readonly firstSnapshotId?: string | undefined;
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
]);

/**
 * The one place EBS direct API errors become homebound errors. Retry what AWS documents as retryable —
 * InternalServerException, throttling (any reason), ValidationException "Failed to read block data", dropped
 * connections and timeouts — and nothing else (other ValidationExceptions, 403, 404 and 409 are final).
 */
export function mapEbsError(error: unknown, context: EbsCallContext): Error {
  if (error instanceof HomeboundError) return error;
  const where = `${context.operation} on ${context.snapshotId}`;
  if (error instanceof RequestThrottledException || nameOf(error) === 'ThrottlingException') {
    return new ThrottledError(`${where} throttled (${reasonOf(error) ?? 'throttled'})`, { cause: error });
  }
  if (error instanceof InternalServerException || statusOf(error) >= 500) {
    return new TransientError(`${where} failed on the service side: ${messageOf(error)}`, { cause: error });
  }
  if (error instanceof ResourceNotFoundException) {
    const first = context.firstSnapshotId;
    const missing = first && messageOf(error).includes(first) ? first : context.snapshotId;
    return new SnapshotNotFoundError(missing, { cause: error });
  }
  if (error instanceof ValidationException) {
    if (error.Reason === 'UNRELATED_SNAPSHOTS') {
      return new UnrelatedSnapshotsError(context.firstSnapshotId ?? '?', context.snapshotId, { cause: error });
    }
    if (/failed to read block data/i.test(messageOf(error))) {
      return new TransientError(`${where}: ${messageOf(error)}`, { cause: error });
    }
    return new RequestRejectedError(
      `${where} rejected (${error.Reason ?? 'ValidationException'}): ${messageOf(error)}`,
      { cause: error },
    );
  }
  if (error instanceof AccessDeniedException) {
    return new RequestRejectedError(`${where} denied: ${messageOf(error)}`, { cause: error });
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if ((code && NETWORK_CODES.has(code)) || nameOf(error) === 'TimeoutError' || nameOf(error) === 'AbortError') {
    return new TransientError(`${where}: connection problem (${code ?? nameOf(error)})`, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

function nameOf(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function reasonOf(error: unknown): string | undefined {
  return (error as { Reason?: string } | undefined)?.Reason;
}

function statusOf(error: unknown): number {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode ?? 0;
}
