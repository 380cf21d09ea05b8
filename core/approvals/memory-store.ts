import type { ApprovalStore, AuditRecord, DecideResult, Decision, PendingApproval, SlackMessageRef } from './record.js';

/**
 * The approval store in memory: the drill's and the tests'. Same contract as the DynamoDB store, including the
 * conditional PENDING → DECIDED update; records are copied in and out so a caller cannot change what is stored.
 */
export class InMemoryApprovalStore implements ApprovalStore {
  private readonly approvals = new Map<string, PendingApproval>();
  private readonly audits: AuditRecord[] = [];

  async create(approval: PendingApproval): Promise<void> {
    if (this.approvals.has(approval.approvalId)) throw new Error(`approval ${approval.approvalId} exists already`);
    this.approvals.set(approval.approvalId, structuredClone(approval));
  }

  async get(approvalId: string): Promise<PendingApproval | undefined> {
    const approval = this.approvals.get(approvalId);
    return approval && structuredClone(approval);
  }

  async decide(approvalId: string, runId: string, decision: Decision): Promise<DecideResult> {
    const current = this.approvals.get(approvalId);
    if (current?.status !== 'PENDING') return { decided: false, current: current && structuredClone(current) };
    const approval: PendingApproval = { ...current, status: 'DECIDED', decision: structuredClone(decision) };
    this.approvals.set(approvalId, approval);
    this.audits.push({ ...structuredClone(decision), runId, approvalId });
    return { decided: true, approval: structuredClone(approval) };
  }

  async setSlackMessage(approvalId: string, message: SlackMessageRef): Promise<void> {
    const current = this.approvals.get(approvalId);
    if (current) this.approvals.set(approvalId, { ...current, slackMessage: { ...message } });
  }

  async markReminded(approvalId: string, at: string): Promise<boolean> {
    const current = this.approvals.get(approvalId);
    if (current?.status !== 'PENDING' || current.remindedAt) return false;
    this.approvals.set(approvalId, { ...current, remindedAt: at });
    return true;
  }

  async listPending(): Promise<PendingApproval[]> {
    return [...this.approvals.values()].filter((a) => a.status === 'PENDING').map((a) => structuredClone(a));
  }

  async decidedApprovalsOf(runId: string): Promise<PendingApproval[]> {
    const decided = new Set(this.audits.filter((audit) => audit.runId === runId).map((audit) => audit.approvalId));
    return [...decided].flatMap((approvalId) => {
      const approval = this.approvals.get(approvalId);
      return approval ? [structuredClone(approval)] : [];
    });
  }

  /** Every approval as stored (tests compare before and after a refused request). */
  snapshot(): PendingApproval[] {
    return [...this.approvals.values()].map((a) => structuredClone(a));
  }

  /** The audit records, oldest first. */
  auditTrail(): AuditRecord[] {
    return this.audits.map((a) => structuredClone(a));
  }
}
