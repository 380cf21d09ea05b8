import type { VerifiedDecision } from '../failback/run-state.js';
import { UnverifiedApprovalError } from './errors.js';
import type { ApprovalStore, Approvers, PendingApproval } from './record.js';

/**
 * Who may have approved a cutover: the deployment's approvers as configured (not the copy in the approval record,
 * which whoever can write the table could widen), and, on the local drill only, the operator at the terminal.
 */
export interface DecisionAllowList {
  readonly approvers: Approvers;
  /** Whether `operator:<name>` decisions count: true for the drill, false on AWS (no terminal channel there). */
  readonly operators: boolean;
}

/** Whether the audit key of an approver (`email:…`, `slack:…`, `operator:…`) is on the allow-list. */
export function isOnAllowList(approverKey: string, allowList: DecisionAllowList): boolean {
  const [kind, ...rest] = approverKey.split(':');
  const id = rest.join(':');
  if (id === '') return false;
  switch (kind) {
    case 'email':
      return allowList.approvers.emails.some((email) => email.toLowerCase() === id.toLowerCase());
    case 'slack':
      return allowList.approvers.slackUserIds.includes(id);
    case 'operator':
      return allowList.operators;
    default:
      return false;
  }
}

/** The decision that counts: the latest one recorded for the run (a retried request leaves older records). */
function latestDecided(approvals: readonly PendingApproval[]): PendingApproval | undefined {
  return approvals.reduce<PendingApproval | undefined>(
    (latest, approval) =>
      !latest || (approval.decision?.decidedAt ?? '') > (latest.decision?.decidedAt ?? '') ? approval : latest,
    undefined,
  );
}

/**
 * Proves a run's cutover was approved, from the approval store alone: the run's latest decided approval belongs to the
 * run, is DECIDED, approved, within its deadline, by someone on the allow-list. Nothing the task token's
 * SendTaskSuccess carried is read, so whoever holds the token but not a decision cannot cut over.
 * @returns the decision as recorded (who, when, through which channel)
 * @throws UnverifiedApprovalError naming the first check that failed
 */
export async function verifyRecordedDecision(
  store: ApprovalStore,
  runId: string,
  allowList: DecisionAllowList,
): Promise<VerifiedDecision> {
  const approval = latestDecided(await store.decidedApprovalsOf(runId));
  const refuse = (why: string) => new UnverifiedApprovalError(`run ${runId}: ${why}; the cutover is not approved`);
  if (!approval) throw refuse('no decision is recorded in the approval store');
  const { decision } = approval;
  if (approval.runId !== runId)
    throw refuse(`the decided approval ${approval.approvalId} is for run ${approval.runId}`);
  if (approval.status !== 'DECIDED' || !decision) throw refuse(`approval ${approval.approvalId} is not decided`);
  if (decision.outcome !== 'approved') throw refuse(`the recorded decision is "${decision.outcome}"`);
  if (Date.parse(decision.decidedAt) > approval.expiresAt * 1000) {
    throw refuse(`the decision at ${decision.decidedAt} came after the deadline`);
  }
  if (!isOnAllowList(decision.approver, allowList)) {
    throw refuse(`${decision.approver} is not on the deployment's approver list`);
  }
  return {
    approved: true,
    approvalId: approval.approvalId,
    approver: decision.approver,
    ...(decision.approverName ? { approverName: decision.approverName } : {}),
    channel: decision.channel,
    decidedAt: decision.decidedAt,
  };
}
