import { HomeboundError } from '../errors.js';

/** Named errors of the compute port (VolumeNotFoundError and SnapshotNotFoundError come from core/errors.ts). */

/** A host (instance) id the platform does not know. */
export class HostNotFoundError extends HomeboundError {
  constructor(
    readonly hostId: string,
    options?: ErrorOptions,
  ) {
    super(`host ${hostId} does not exist`, options);
  }
}

/** The volume is attached to a host, so it cannot be attached again or deleted. */
export class VolumeInUseError extends HomeboundError {
  constructor(
    readonly volumeId: string,
    readonly hostId: string | undefined,
    options?: ErrorOptions,
  ) {
    super(`volume ${volumeId} is in use${hostId === undefined ? '' : ` (attached to ${hostId})`}`, options);
  }
}

/** Detaching a volume that is not attached. */
export class VolumeNotAttachedError extends HomeboundError {
  constructor(
    readonly volumeId: string,
    options?: ErrorOptions,
  ) {
    super(`volume ${volumeId} is not attached to any host`, options);
  }
}

/** The host's state does not allow the operation (e.g. attaching to a terminated host). */
export class HostStateError extends HomeboundError {
  constructor(
    readonly hostId: string,
    readonly state: string,
    operation: string,
    options?: ErrorOptions,
  ) {
    super(`host ${hostId} is ${state}; cannot ${operation}`, options);
  }
}

/** An instance type the platform does not know (DescribeInstanceTypes answered nothing for it). */
export class UnknownInstanceTypeError extends HomeboundError {
  constructor(
    readonly instanceType: string,
    options?: ErrorOptions,
  ) {
    super(`instance type ${instanceType} is not known, so its vCPUs and memory cannot be read`, options);
  }
}

/** A subnet id the platform does not know. */
export class SubnetNotFoundError extends HomeboundError {
  constructor(
    readonly subnetId: string,
    options?: ErrorOptions,
  ) {
    super(`subnet ${subnetId} does not exist`, options);
  }
}

/**
 * A launch asked for a private address the subnet cannot give: outside its block, one of the addresses EC2 reserves,
 * or already another host's (EC2's InvalidParameterValue / InvalidIPAddress.InUse).
 */
export class AddressUnavailableError extends HomeboundError {
  constructor(
    readonly address: string,
    readonly subnetId: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`address ${address} is not available in subnet ${subnetId}: ${reason}`, options);
  }
}
