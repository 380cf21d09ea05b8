import { HomeboundError, TransientError } from '../errors.js';

/**
 * Named errors of the vSphere client. A SOAP fault or a failed task is mapped once (faults.ts) to one of these, so the
 * agent can send the class name as a Step Functions error. No message ever holds a password or a session cookie.
 */

/** Any vim25 fault without a more specific class; `faultName` is the vim25 type (e.g. `InvalidPowerState`). */
export class VsphereFaultError extends HomeboundError {
  constructor(
    readonly faultName: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`vSphere fault ${faultName}: ${message}`, options);
  }
}

/** Login refused (InvalidLogin): wrong user name or password, or a locked account. */
export class VsphereLoginError extends HomeboundError {
  constructor(
    readonly url: string,
    readonly username: string,
    options?: ErrorOptions,
  ) {
    super(`vSphere at ${url} refused the login of ${username} (InvalidLogin: wrong user name or password)`, options);
  }
}

/** The endpoint did not answer, or answered something that is not a SOAP response (retried by callers that can). */
export class VsphereUnavailableError extends TransientError {}

/** The vCenter certificate is not the one pinned (thumbprint): nothing was sent to it. */
export class VsphereCertificateMismatchError extends HomeboundError {
  constructor(
    readonly url: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`the certificate of ${url} has SHA-256 fingerprint ${actual}, not the pinned ${expected}; nothing was sent`);
  }
}

/** An object looked up by its inventory path does not exist; subclasses name the kind. */
export class VsphereObjectNotFoundError extends HomeboundError {
  constructor(
    readonly kind: string,
    readonly path: string,
    options?: ErrorOptions,
  ) {
    super(`${kind} ${path} does not exist in vSphere`, options);
  }
}

export class DatacenterNotFoundError extends VsphereObjectNotFoundError {
  constructor(path: string, options?: ErrorOptions) {
    super('datacenter', path, options);
  }
}

export class DatastoreNotFoundError extends VsphereObjectNotFoundError {
  constructor(path: string, options?: ErrorOptions) {
    super('datastore', path, options);
  }
}

export class NetworkNotFoundError extends VsphereObjectNotFoundError {
  constructor(path: string, options?: ErrorOptions) {
    super('network (port group)', path, options);
  }
}

export class ResourcePoolNotFoundError extends VsphereObjectNotFoundError {
  constructor(path: string, options?: ErrorOptions) {
    super('resource pool (cluster, host or pool)', path, options);
  }
}

export class VmFolderNotFoundError extends VsphereObjectNotFoundError {
  constructor(path: string, options?: ErrorOptions) {
    super('VM folder', path, options);
  }
}

export class VmNotFoundError extends VsphereObjectNotFoundError {
  constructor(path: string, options?: ErrorOptions) {
    super('virtual machine', path, options);
  }
}

/** FileAlreadyExists: a disk or VM file of that name is already on the datastore. */
export class VsphereFileAlreadyExistsError extends VsphereFaultError {}

/** InsufficientResourcesFault (or a subclass): not enough CPU, memory or disk space to create or power on. */
export class VsphereInsufficientResourcesError extends VsphereFaultError {}

/** A task still running when the caller's deadline passed. */
export class VsphereTaskTimeoutError extends HomeboundError {
  constructor(
    readonly task: string,
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`vSphere task ${task} did not finish within ${timeoutMs} ms`, options);
  }
}

/** A VM of the failback host's name exists but is not the one homebound made for it (other disks). */
export class FailbackVmConflictError extends HomeboundError {
  constructor(
    readonly vmName: string,
    readonly expectedDisks: readonly string[],
    readonly actualDisks: readonly string[],
  ) {
    super(
      `VM ${vmName} exists with disks [${actualDisks.join(', ')}], not [${expectedDisks.join(', ')}]; rename or remove it, or name the failback VM differently`,
    );
  }
}

/** A VM booted for verification did not report running VMware Tools in time. */
export class GuestNotUpError extends HomeboundError {
  constructor(
    readonly vmName: string,
    readonly toolsRunningStatus: string | undefined,
    readonly timeoutMs: number,
  ) {
    super(
      `VM ${vmName} powered on but its guest did not report VMware Tools running within ${timeoutMs} ms (last status: ${toolsRunningStatus ?? 'none'})`,
    );
  }
}

/** The configured local mount is not the datastore: a folder vSphere made there does not show through it. */
export class DatastoreMountMismatchError extends HomeboundError {
  constructor(
    readonly datastore: string,
    readonly mount: string,
  ) {
    super(
      `${mount} is not where datastore ${datastore} is mounted on this host (a folder made on the datastore does not appear there); fix datastoreMount`,
    );
  }
}
