import { HomeboundError } from '../errors.js';

/**
 * Why an approval request (a page visit, a form post, a Slack click) was refused. Each refusal changes nothing: the
 * approval stays as it was and no task token is completed. `httpStatus` is the one place refusals map to HTTP.
 */
export abstract class ApprovalRefusedError extends HomeboundError {
  abstract readonly httpStatus: number;
  /** One sentence for the person who clicked, safe to show (names no secret). */
  abstract readonly explanation: string;
}

/** The link's signature does not match: it was altered or made up. */
export class ApprovalLinkForgedError extends ApprovalRefusedError {
  readonly httpStatus = 403;
  readonly explanation = 'This approval link is not valid: it was altered or is not one homebound sent.';
}

/** The link's expiry (the approval deadline) has passed. */
export class ApprovalLinkExpiredError extends ApprovalRefusedError {
  readonly httpStatus = 410;
  readonly explanation = 'This approval link has expired: the deadline for this cutover has passed.';
}

/** No pending approval has this id (never existed, or deleted after its window). */
export class ApprovalNotFoundError extends ApprovalRefusedError {
  readonly httpStatus = 404;
  readonly explanation = 'There is no approval request behind this link (it may have expired and been removed).';
}

/** The form's one-time nonce is missing, malformed, or not one this page issued for this link. */
export class ApprovalNonceInvalidError extends ApprovalRefusedError {
  readonly httpStatus = 403;
  readonly explanation = 'This form is not valid any more. Open the approval link again to decide.';
}

/** The form's nonce was already used: the same POST sent again (a reload, a retry, a replay). */
export class ApprovalReplayedError extends ApprovalRefusedError {
  readonly httpStatus = 409;
  readonly explanation = 'This form was already submitted once; the decision it carried stands.';
}

/** Someone decided first; a decision is taken once. */
export class ApprovalAlreadyDecidedError extends ApprovalRefusedError {
  readonly httpStatus = 409;
  readonly explanation = 'This cutover was already decided.';
}

/** The person is not on the run's approver allow-list. */
export class ApproverNotAllowedError extends ApprovalRefusedError {
  readonly httpStatus = 403;
  readonly explanation = 'You are not on the approver list for this cutover.';
}

/** The run stopped waiting (its approval timed out, or the execution ended) before the decision reached it. */
export class ApprovalNoLongerWaitingError extends ApprovalRefusedError {
  readonly httpStatus = 410;
  readonly explanation = 'The run is no longer waiting for a decision (it timed out and rolled back, or ended).';
}

/** A Slack request whose X-Slack-Signature does not match the signing secret (or is missing). */
export class SlackSignatureInvalidError extends ApprovalRefusedError {
  readonly httpStatus = 401;
  readonly explanation = 'The request signature is not valid.';
}

/** A Slack request whose timestamp is more than 300 s from now: possibly a replay. */
export class SlackRequestStaleError extends ApprovalRefusedError {
  readonly httpStatus = 401;
  readonly explanation = 'The request timestamp is too old (or in the future).';
}

/** A signed Slack interaction from a workspace or channel other than the configured ones. */
export class SlackWorkspaceNotAllowedError extends ApprovalRefusedError {
  readonly httpStatus = 403;
  readonly explanation = 'This Slack workspace or channel is not the one homebound approvals are configured for.';
}

/** The request is not the shape this endpoint takes; the message names what. */
export class ApprovalRequestMalformedError extends ApprovalRefusedError {
  readonly httpStatus = 400;
  readonly explanation = 'The request is not one this endpoint understands.';
}

/** An approval was requested but no approver is configured (neither emails nor Slack user ids). */
export class NoApproversConfiguredError extends HomeboundError {}

/** A notification channel answered with an error (Slack's `ok: false`, an HTTP error). */
export class ApprovalNotificationError extends HomeboundError {}

/**
 * The run was told "approved" (its task token completed with success) but the approval store does not prove it: no
 * decision recorded for this run, or not DECIDED, not approved, or by someone off the deployment's approver list. The
 * message names what did not hold. VerifyDecision throws it; the state machine rolls back as for a rejection.
 */
export class UnverifiedApprovalError extends HomeboundError {}
