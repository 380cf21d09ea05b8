import { HomeboundError } from '../errors.js';

/**
 * Named errors of the failback method. Their class names are the Step Functions error names the state machines
 * match in Retry and Catch (a Lambda handler's thrown `name` becomes the error name), so renaming one is a change to
 * statemachines/*.asl.json as well.
 */

/** The request document is malformed; the message names the field. */
export class InvalidFailbackRequestError extends HomeboundError {}

/** `method` is not one homebound runs. */
export class UnknownMethodError extends HomeboundError {
  constructor(
    readonly method: string,
    readonly knownMethods: readonly string[],
  ) {
    super(`method "${method}" is unknown; homebound runs ${knownMethods.map((name) => `"${name}"`).join(', ')}`);
  }
}

/** The request names no target to fail back to. */
export class MissingTargetError extends HomeboundError {
  constructor() {
    super('the request has no "target": say where the failback hosts run (e.g. { "platform": "aws", "region": … })');
  }
}

/** A takeover host with nothing to copy. */
export class HostWithoutVolumesError extends HomeboundError {
  constructor(readonly hostId: string) {
    super(`host ${hostId} has no volumes attached; there is nothing to fail back`);
  }
}

/** A host the request names is not a takeover host (a gateway or failback host of some run). */
export class NotATakeoverHostError extends HomeboundError {
  constructor(
    readonly hostId: string,
    role: string,
  ) {
    super(`host ${hostId} is a ${role} host, not a takeover host`);
  }
}

/**
 * A host the request names does not carry the deployment's takeover tag. IAM would refuse to stop or snapshot it
 * anyway; refusing here says why before anything is created.
 */
export class MissingTakeoverTagError extends HomeboundError {
  constructor(
    readonly hostId: string,
    tag: { readonly key: string; readonly value: string },
  ) {
    super(
      `host ${hostId} is not tagged ${tag.key}=${tag.value}, the takeover tag of this deployment; tag it or name another host`,
    );
  }
}

/** A snapshot ended in the `error` state. */
export class SnapshotFailedError extends HomeboundError {
  constructor(readonly snapshotId: string) {
    super(`snapshot ${snapshotId} failed (state "error")`);
  }
}

/**
 * The StreamPass map's exported results do not account for the pass: not in the stack's bucket, a child failed, a
 * volume missing or twice, or an entry that is not a streamed volume. The message names which.
 */
export class PassResultsMismatchError extends HomeboundError {}

/** The sync gateway refused a pass; its apply-error record names the cause. */
export class ApplyFailedError extends HomeboundError {}

/** A pass was not acknowledged by the gateway in time. */
export class ApplyTimedOutError extends HomeboundError {}

/**
 * A seeded volume's seed record did not appear in staging within the request's `target.seedHashTimeoutSeconds` of
 * StreamPass's first wait for it: the target side is not hashing (it crashed, or was never given the seed).
 */
export class SeedHashTimeoutError extends HomeboundError {}

/**
 * The sync gateway stopped reporting liveness: its heartbeat is older than the request's
 * `gateway.unavailableAfterSeconds`, or none appeared that long after the pass began (crashed past its restarts,
 * hung, never booted). The run rolls back instead of waiting out `applyTimeoutSeconds`.
 */
export class GatewayUnavailableError extends HomeboundError {}

/**
 * A gateway record (ack, apply error, heartbeat) whose MAC does not verify with this run's gateway key: unsigned,
 * tampered with, or written by another run's gateway. Never counted; the run rolls back.
 */
export class UnverifiedAckError extends HomeboundError {}

/** PrepareTarget or CheckApplied has no gateway-ack secret, so it can neither key a gateway nor verify one. */
export class GatewayAckSecretMissingError extends HomeboundError {
  constructor(readonly step: string) {
    super(`${step} has no gateway-ack secret (HOMEBOUND_GATEWAY_ACK_SECRET_ARN) to derive the run's gateway key with`);
  }
}

/** A host reached a state it should not have on the way to the one awaited (e.g. terminated). */
export class UnexpectedHostStateError extends HomeboundError {}

/** The approver said no. Sent with SendTaskFailure; the state machine rolls back. */
export class CutoverRejectedError extends HomeboundError {}

/** After cutover, a failback host or volume does not check out. */
export class FailbackVerificationError extends HomeboundError {}

/** A failure injected by `homebound drill --fail-at` to rehearse the rollback path. Never retried. */
export class DrillInjectedFailure extends HomeboundError {
  constructor(readonly stateName: string) {
    super(`drill: injected failure at state ${stateName}`);
  }
}

/**
 * A seed volume (`hosts[i].failback.seed`) is attached to an instance that is running, and the request does not let
 * homebound stop it (`target.powerOffSeed`): writing under a running system would corrupt both.
 */
export class SeedInUseError extends HomeboundError {
  constructor(
    readonly field: string,
    readonly volumeId: string,
    readonly hostId: string,
    readonly state: string,
  ) {
    super(
      `failback request field ${field}: seed volume ${volumeId} is attached to ${hostId}, which is ${state}; stop it, or set target.powerOffSeed: true to let homebound stop it and detach the volume`,
    );
  }
}
