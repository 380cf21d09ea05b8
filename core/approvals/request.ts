import type { Logger } from '@aws-lambda-powertools/logger';
import type { ThroughputProfile } from '../estimate/profile.js';
import type { ApprovalPort, ApprovalRequest } from '../failback/run-state.js';
import { NoApproversConfiguredError } from './errors.js';
import { estimateCutover } from './estimate.js';
import type { ApprovalNotifier } from './notifier.js';
import type { ApprovalStore, Approvers, PendingApproval } from './record.js';
import { newApprovalId } from './signed-link.js';

export interface ApprovalServiceOptions {
  readonly store: ApprovalStore;
  readonly notifier: ApprovalNotifier;
  readonly approvers: Approvers;
  /** How long before the deadline approvers are reminded (at most half the window). */
  readonly reminderLeadSeconds: number;
  /** Where the run's passes run (AWS, the local cloud), for the final pass and downtime estimate. */
  readonly profile: ThroughputProfile;
  readonly now: () => Date;
  readonly logger?: Logger | undefined;
}

/** When the reminder is due: `lead` before the deadline, but never in the first half of the window. */
export function reminderDue(createdAtSeconds: number, expiresAtSeconds: number, leadSeconds: number): number {
  const window = expiresAtSeconds - createdAtSeconds;
  return expiresAtSeconds - Math.min(leadSeconds, Math.floor(window / 2));
}

/**
 * The approval port behind the RequestApproval task: stores the task token server-side under a fresh opaque id (with
 * the approver allow-list, the summary and the deadline) and asks the approvers. Returns once they are asked; the
 * decision arrives later through the page or Slack.
 */
export class ApprovalService implements Pick<ApprovalPort, 'requestApproval'> {
  constructor(private readonly options: ApprovalServiceOptions) {}

  /**
   * @throws NoApproversConfiguredError when nobody could decide; whatever the notifier throws when no channel
   *   reached anyone
   */
  async requestApproval(request: ApprovalRequest): Promise<void> {
    const { store, notifier, approvers, logger } = this.options;
    if (approvers.emails.length === 0 && approvers.slackUserIds.length === 0) {
      throw new NoApproversConfiguredError('no approvers are configured (homebound:approvers, slackApprovers)');
    }
    const now = this.options.now();
    const createdAtSeconds = Math.floor(now.getTime() / 1000);
    const expiresAt = createdAtSeconds + request.timeoutSeconds;
    const approval: PendingApproval = {
      approvalId: newApprovalId(),
      runId: request.runId,
      taskToken: request.taskToken,
      status: 'PENDING',
      createdAt: now.toISOString(),
      expiresAt,
      remindAt: reminderDue(createdAtSeconds, expiresAt, this.options.reminderLeadSeconds),
      summary: request.summary,
      estimate: estimateCutover(request.summary, this.options.profile),
      approvers: { emails: [...approvers.emails], slackUserIds: [...approvers.slackUserIds] },
    };
    await store.create(approval);
    const { slackMessage } = await notifier.requestDecision(approval);
    if (slackMessage) await store.setSlackMessage(approval.approvalId, slackMessage);
    logger?.info('cutover approval requested', {
      runId: approval.runId,
      approvalId: approval.approvalId,
      expiresAt: new Date(expiresAt * 1000).toISOString(),
      emailApprovers: approvers.emails.length,
      slackApprovers: approvers.slackUserIds.length,
    });
  }
}
