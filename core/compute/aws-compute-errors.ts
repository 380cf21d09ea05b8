import {
  HomeboundError,
  RequestRejectedError,
  SnapshotNotFoundError,
  ThrottledError,
  TransientError,
  VolumeNotFoundError,
} from '../errors.js';
import {
  HostNotFoundError,
  HostStateError,
  SubnetNotFoundError,
  VolumeInUseError,
  VolumeNotAttachedError,
} from './errors.js';

/** What a failed EC2 call was about, to name the resource in the error. */
export interface Ec2CallContext {
  readonly operation: string;
  /** The ids the request named; the first one of the matching kind is blamed when the message names none. */
  readonly ids?: readonly string[];
}

const THROTTLE_CODES = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException']);
const SERVER_CODES = new Set(['InternalError', 'InternalFailure', 'ServiceUnavailable', 'Unavailable']);

/**
 * The one place EC2 errors become homebound errors. EC2 (query protocol) reports its error code as the exception's
 * `name`; not-found codes name the missing id in the message, which is preferred over the request's ids.
 */
export function mapEc2Error(error: unknown, context: Ec2CallContext): Error {
  if (error instanceof HomeboundError) return error;
  const code = error instanceof Error ? error.name : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const where = `EC2 ${context.operation}`;
  const options = { cause: error };
  const idOf = (prefix: string) =>
    new RegExp(`\\b${prefix}-[0-9a-zA-Z]+`).exec(message)?.[0] ??
    context.ids?.find((id) => id.startsWith(`${prefix}-`)) ??
    '?';
  switch (code) {
    case 'InvalidInstanceID.NotFound':
    case 'InvalidInstanceID.Malformed':
      return new HostNotFoundError(idOf('i'), options);
    case 'InvalidVolume.NotFound':
    case 'InvalidVolumeID.Malformed':
      return new VolumeNotFoundError(idOf('vol'), options);
    case 'InvalidSnapshot.NotFound':
    case 'InvalidSnapshotID.Malformed':
      return new SnapshotNotFoundError(idOf('snap'), options);
    case 'InvalidSubnetID.NotFound':
    case 'InvalidSubnetID.Malformed':
      return new SubnetNotFoundError(idOf('subnet'), options);
    case 'VolumeInUse':
      return new VolumeInUseError(idOf('vol'), undefined, options);
    case 'IncorrectState':
      if (context.operation === 'DetachVolume') return new VolumeNotAttachedError(idOf('vol'), options);
      return new RequestRejectedError(`${where} rejected (IncorrectState): ${message}`, options);
    case 'IncorrectInstanceState':
      return new HostStateError(idOf('i'), 'in an incompatible state', context.operation, options);
  }
  if (code !== undefined && THROTTLE_CODES.has(code)) {
    return new ThrottledError(`${where} throttled (${code})`, options);
  }
  if ((code !== undefined && SERVER_CODES.has(code)) || statusOf(error) >= 500) {
    return new TransientError(`${where} failed on the service side (${code ?? 'unknown'}): ${message}`, options);
  }
  if (statusOf(error) >= 400) return new RequestRejectedError(`${where} rejected (${code}): ${message}`, options);
  return error instanceof Error ? error : new Error(String(error));
}

function statusOf(error: unknown): number {
  const metadata = (error as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata;
  return typeof metadata?.httpStatusCode === 'number' ? metadata.httpStatusCode : 0;
}
