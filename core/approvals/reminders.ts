import type { Logger } from '@aws-lambda-powertools/logger';
import type { ApprovalNotifier } from './notifier.js';
import type { ApprovalStore, Decision } from './record.js';

export interface ReminderDeps {
  readonly store: ApprovalStore;
  readonly notifier: ApprovalNotifier;
  readonly now: () => Date;
  readonly logger?: Logger | undefined;
}

/**
 * Runs on a schedule: reminds the approvers of every pending approval whose reminder is due (once: the store marks it
 * first, so overlapping runs do not send two), and records approvals whose deadline passed as timed out (the state
 * machine has already rolled back: TimeoutSecondsPath), updating the Slack message to say so.
 * @returns how many reminders were sent and approvals closed as timed out
 */
export async function sendDueReminders(deps: ReminderDeps): Promise<{ reminded: number; timedOut: number }> {
  const now = deps.now();
  const nowSeconds = Math.floor(now.getTime() / 1000);
  let reminded = 0;
  let timedOut = 0;
  for (const approval of await deps.store.listPending()) {
    const fields = { runId: approval.runId, approvalId: approval.approvalId };
    if (nowSeconds >= approval.expiresAt) {
      const decision: Decision = {
        outcome: 'timed-out',
        approver: 'nobody',
        channel: 'timeout',
        decidedAt: now.toISOString(),
        origin: {},
      };
      const result = await deps.store.decide(approval.approvalId, approval.runId, decision);
      if (!result.decided) continue;
      timedOut += 1;
      deps.logger?.info('cutover approval timed out', fields);
      await deps.notifier.decided(result.approval);
    } else if (nowSeconds >= approval.remindAt && !approval.remindedAt) {
      if (!(await deps.store.markReminded(approval.approvalId, now.toISOString()))) continue;
      reminded += 1;
      deps.logger?.info('cutover approval reminder sent', fields);
      await deps.notifier.remind(approval);
    }
  }
  return { reminded, timedOut };
}
