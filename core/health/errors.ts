import { HomeboundError, InvalidInputError } from '../errors.js';

/**
 * Named errors of the health checks. `HealthCheckFailedError` is a Step Functions error name (a Catch routes it to
 * rollback), so renaming it is a change to statemachines/*.asl.json as well.
 */

/** A health check in a request or a step's input is malformed; the message names the field. */
export class InvalidHealthCheckError extends InvalidInputError {}

/** A check this environment cannot run (e.g. an `ssm` check without an SSM client, or in the local cloud). */
export class HealthCheckUnsupportedError extends HomeboundError {}

/** One failing check of one host, as HealthCheckFailedError reports it. */
export interface FailedCheck {
  readonly hostId: string;
  readonly name: string;
  readonly detail: string;
}

/** Failing checks spelled out in HealthCheckFailedError's message; Step Functions keeps at most 32,768 characters of it. */
const CHECKS_IN_MESSAGE = 20;

/**
 * Hosts were still unhealthy when their wave's health deadline passed. Names every unhealthy host, and the checks
 * that failed on the last attempt with what they saw (the first 20 in the message; all of them in `failed`).
 */
export class HealthCheckFailedError extends HomeboundError {
  constructor(
    readonly failed: readonly FailedCheck[],
    deadline: string,
  ) {
    const hosts = [...new Set(failed.map((check) => check.hostId))];
    const shown = failed.slice(0, CHECKS_IN_MESSAGE).map((check) => `${check.hostId} ${check.name}: ${check.detail}`);
    const more = failed.length > shown.length ? `; and ${failed.length - shown.length} more failing checks` : '';
    super(
      `${hosts.length === 1 ? 'host' : 'hosts'} ${hosts.join(', ')} still unhealthy at the deadline ${deadline}: ${shown.join('; ')}${more}`,
    );
  }
}
