import { z } from 'zod';
import { ApprovalSummary } from '../failback/run-state.js';

/**
 * What the approval store keeps: one record per approval request (holding the task token, which never leaves the
 * store except into SendTaskSuccess/SendTaskFailure) and one audit record per decision.
 */

/** Who may decide a run's cutover. Fixed when the approval is requested, so a config change cannot widen it later. */
export const Approvers = z.object({
  emails: z.array(z.string()),
  slackUserIds: z.array(z.string()),
});
export type Approvers = z.infer<typeof Approvers>;

/** Who is deciding, as established by the channel: a signed email link, a signed Slack request, the local terminal. */
export type ApproverIdentity =
  | { readonly kind: 'email'; readonly email: string }
  | { readonly kind: 'slack'; readonly userId: string; readonly name?: string | undefined }
  /** The operator running `homebound drill` (terminal or flag); only the local approvals create it. */
  | { readonly kind: 'operator'; readonly name: string };

/** Where a decision came from, for the audit. */
export const DecisionOrigin = z.object({
  sourceIp: z.string().optional(),
  userAgent: z.string().optional(),
  slackTeamId: z.string().optional(),
  slackChannelId: z.string().optional(),
});
export type DecisionOrigin = z.infer<typeof DecisionOrigin>;

export const Decision = z.object({
  outcome: z.enum(['approved', 'rejected', 'timed-out']),
  /** `email:<address>`, `slack:<user id>`, `operator:<name>`, or `nobody` for a timeout. */
  approver: z.string(),
  /** A display name where the channel gives one (Slack). */
  approverName: z.string().optional(),
  channel: z.enum(['page', 'slack', 'terminal', 'timeout']),
  decidedAt: z.string(),
  origin: DecisionOrigin,
  /** The page form's nonce that carried the decision: a second POST with it is a replay. */
  nonce: z.string().optional(),
});
export type Decision = z.infer<typeof Decision>;

export const SlackMessageRef = z.object({ channel: z.string(), ts: z.string() });
export type SlackMessageRef = z.infer<typeof SlackMessageRef>;

export const PendingApproval = z.object({
  approvalId: z.string(),
  runId: z.string(),
  taskToken: z.string(),
  status: z.enum(['PENDING', 'DECIDED']),
  createdAt: z.string(),
  /** Epoch seconds: the deadline (the state's TimeoutSeconds); links expire then and the store forgets it then. */
  expiresAt: z.number().int(),
  /** Epoch seconds when the reminder is due. */
  remindAt: z.number().int(),
  remindedAt: z.string().optional(),
  summary: ApprovalSummary,
  /** The final pass and downtime the approver is told to expect (estimateCutover at request time). */
  estimate: z.object({ finalPassSeconds: z.number(), downtimeSeconds: z.number() }),
  approvers: Approvers,
  slackMessage: SlackMessageRef.optional(),
  decision: Decision.optional(),
});
export type PendingApproval = z.infer<typeof PendingApproval>;

/** One decided approval, kept after the approval record itself expires. Holds no token. */
export interface AuditRecord extends Decision {
  readonly runId: string;
  readonly approvalId: string;
}

/** The outcome of a conditional PENDING → DECIDED update. */
export type DecideResult =
  | { readonly decided: true; readonly approval: PendingApproval }
  /** Not pending any more (or gone); `current` is the record as it is now, to say why. */
  | { readonly decided: false; readonly current: PendingApproval | undefined };

/** Where approvals live: DynamoDB on AWS, memory for the drill and tests. */
export interface ApprovalStore {
  /** Stores a new pending approval. */
  create(approval: PendingApproval): Promise<void>;
  get(approvalId: string): Promise<PendingApproval | undefined>;
  /**
   * Records `decision` only if the approval is still PENDING (a conditional update), writing its audit record in the
   * same step. A second decision finds it DECIDED and changes nothing.
   */
  decide(approvalId: string, runId: string, decision: Decision): Promise<DecideResult>;
  /** Remembers the Slack message of the request, to update it with the decision. */
  setSlackMessage(approvalId: string, message: SlackMessageRef): Promise<void>;
  /** Marks the reminder sent; false when it already was, or the approval is no longer pending (so one is sent). */
  markReminded(approvalId: string, at: string): Promise<boolean>;
  /** Approvals still PENDING (for reminders and timeouts). */
  listPending(): Promise<PendingApproval[]>;
  /**
   * The run's approvals that carry a decision, read consistently (VerifyDecision re-reads them before a cutover).
   * Found through the run's audit records, so an approval whose decision has no audit record is not among them.
   */
  decidedApprovalsOf(runId: string): Promise<PendingApproval[]>;
}

/** The audit as a person states it: who, what, when, from where, which run. */
export function describeDecision(audit: AuditRecord): string {
  const where = [audit.origin.sourceIp, audit.origin.userAgent, audit.origin.slackChannelId]
    .filter((part) => part !== undefined)
    .join(', ');
  const who = audit.approverName ? `${audit.approver} (${audit.approverName})` : audit.approver;
  return `run ${audit.runId}: ${audit.outcome} by ${who} via ${audit.channel} at ${audit.decidedAt}${where ? ` from ${where}` : ''}`;
}
