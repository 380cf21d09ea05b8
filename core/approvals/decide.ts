import type { Logger } from '@aws-lambda-powertools/logger';
import { CutoverRejectedError } from '../failback/errors.js';
import {
  ApprovalAlreadyDecidedError,
  ApprovalLinkExpiredError,
  ApprovalNotFoundError,
  ApprovalReplayedError,
  ApproverNotAllowedError,
} from './errors.js';
import type { ApprovalStore, ApproverIdentity, Decision, DecisionOrigin, PendingApproval } from './record.js';

/**
 * Completes a task token: SendTaskSuccess/SendTaskFailure on AWS, the local runner's registry in the drill.
 * @throws ApprovalNoLongerWaitingError when the token can no longer be completed (timed out, execution ended)
 */
export interface TaskResponder {
  sendTaskSuccess(taskToken: string, output: Readonly<Record<string, unknown>>): Promise<void>;
  sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void>;
}

/** One person's decision as a channel (the page, Slack, the terminal) hands it in. */
export interface DecisionRequest {
  readonly approvalId: string;
  readonly outcome: 'approved' | 'rejected';
  readonly approver: ApproverIdentity;
  readonly channel: Decision['channel'];
  readonly origin: DecisionOrigin;
  /** The page form's one-time nonce. */
  readonly nonce?: string | undefined;
  /** Why, for a rejection: the run's rollback reason starts with it. */
  readonly reason?: string | undefined;
}

export interface ApprovalDeciderDeps {
  readonly store: ApprovalStore;
  readonly tasks: TaskResponder;
  readonly now: () => Date;
  readonly logger?: Logger | undefined;
}

/** `email:<address>` / `slack:<id>` / `operator:<name>`: how the audit names an approver. */
export function approverKey(approver: ApproverIdentity): string {
  switch (approver.kind) {
    case 'email':
      return `email:${approver.email.toLowerCase()}`;
    case 'slack':
      return `slack:${approver.userId}`;
    case 'operator':
      return `operator:${approver.name}`;
  }
}

/** Whether the approval's allow-list names this person. The local operator is the one who started the drill. */
export function isAllowed(approval: PendingApproval, approver: ApproverIdentity): boolean {
  switch (approver.kind) {
    case 'email':
      return approval.approvers.emails.some((email) => email.toLowerCase() === approver.email.toLowerCase());
    case 'slack':
      return approval.approvers.slackUserIds.includes(approver.userId);
    case 'operator':
      return true;
  }
}

/**
 * Refuses when the approval cannot take this decision any more: decided (a replay when the same nonce carried the
 * first decision), or past its deadline.
 * @throws ApprovalReplayedError, ApprovalAlreadyDecidedError, ApprovalLinkExpiredError
 */
export function refuseUnlessOpen(approval: PendingApproval, nowSeconds: number, nonce?: string): void {
  if (approval.status !== 'PENDING') {
    if (nonce !== undefined && approval.decision?.nonce === nonce) {
      throw new ApprovalReplayedError(`approval ${approval.approvalId}: nonce already used`);
    }
    throw new ApprovalAlreadyDecidedError(
      `approval ${approval.approvalId} already ${approval.decision?.outcome ?? 'decided'}`,
    );
  }
  if (nowSeconds >= approval.expiresAt) {
    throw new ApprovalLinkExpiredError(`approval ${approval.approvalId} expired at ${approval.expiresAt}`);
  }
}

/**
 * Takes a decision: checks the approval is open and the person allowed, records the decision with a conditional
 * PENDING → DECIDED update (and its audit record), and only after that completes the task token. Whoever loses a
 * race, or clicks twice, is refused by the conditional update and completes nothing.
 */
export class ApprovalDecider {
  constructor(private readonly deps: ApprovalDeciderDeps) {}

  /**
   * @returns the approval as decided
   * @throws an ApprovalRefusedError subclass naming why nothing changed; ApprovalNoLongerWaitingError when the
   *   decision was recorded but the run had stopped waiting (timed out or ended)
   */
  async decide(request: DecisionRequest): Promise<PendingApproval> {
    const { store, tasks, logger } = this.deps;
    const now = this.deps.now();
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const current = await store.get(request.approvalId);
    if (!current) throw new ApprovalNotFoundError(`approval ${request.approvalId} not found`);
    refuseUnlessOpen(current, nowSeconds, request.nonce);
    const approver = approverKey(request.approver);
    if (!isAllowed(current, request.approver)) {
      throw new ApproverNotAllowedError(`${approver} is not an approver of run ${current.runId}`);
    }
    const decision: Decision = {
      outcome: request.outcome,
      approver,
      ...(request.approver.kind === 'slack' && request.approver.name ? { approverName: request.approver.name } : {}),
      channel: request.channel,
      decidedAt: now.toISOString(),
      origin: request.origin,
      ...(request.nonce === undefined ? {} : { nonce: request.nonce }),
    };
    const result = await store.decide(request.approvalId, current.runId, decision);
    if (!result.decided) {
      if (!result.current) throw new ApprovalNotFoundError(`approval ${request.approvalId} not found`);
      refuseUnlessOpen(result.current, nowSeconds, request.nonce);
      throw new ApprovalAlreadyDecidedError(`approval ${request.approvalId} was decided concurrently`);
    }
    const { approval } = result;
    const fields = { runId: approval.runId, approvalId: approval.approvalId, outcome: decision.outcome, approver };
    try {
      if (decision.outcome === 'approved') {
        await tasks.sendTaskSuccess(approval.taskToken, { approved: true, approver, decidedAt: decision.decidedAt });
      } else {
        await tasks.sendTaskFailure(
          approval.taskToken,
          CutoverRejectedError.name,
          request.reason
            ? `${request.reason} (by ${approver} via ${decision.channel})`
            : `by ${approver} via ${decision.channel}`,
        );
      }
    } catch (error) {
      logger?.warn('decision recorded but not delivered to the run', { ...fields, error: String(error) });
      throw error;
    }
    logger?.info('cutover decided', { ...fields, channel: decision.channel, origin: decision.origin });
    return approval;
  }
}
