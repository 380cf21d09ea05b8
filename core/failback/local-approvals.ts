import type { TaskTokenRegistry } from '../orchestration/local-runner.js';
import type { ApprovalPort, ApprovalRequest } from './run-state.js';

/** What the approver decided, as the state machine receives it on approval. */
export interface ApprovalDecision {
  readonly approved: true;
  readonly approver: string;
  readonly decidedAt: string;
}

/**
 * The approval port on the local cloud: keeps each run's pending request in memory (the task token never leaves this
 * object) and completes the token when the drill's terminal prompt, its localhost page or `--auto-approve` decides.
 * A second decision on the same request is refused, like a conditional PENDING → DECIDED update.
 */
export class LocalApprovals implements ApprovalPort {
  private readonly pending = new Map<string, ApprovalRequest>();
  private readonly waiting = new Set<(request: ApprovalRequest) => void>();

  constructor(private readonly tokens: TaskTokenRegistry) {}

  async requestApproval(request: ApprovalRequest): Promise<void> {
    this.pending.set(request.runId, request);
    for (const notify of this.waiting) notify(request);
    this.waiting.clear();
  }

  /** Resolves with the next approval request (at once if one is pending). */
  next(): Promise<ApprovalRequest> {
    for (const [runId, request] of this.pending) {
      if (this.isOpen(request)) return Promise.resolve(request);
      this.pending.delete(runId); // timed out, or its execution ended
    }
    return new Promise((resolve) => this.waiting.add(resolve));
  }

  /** Approves the run's pending cutover. Returns false when nothing is pending (already decided, or timed out). */
  approve(runId: string, approver: string): boolean {
    const request = this.take(runId);
    if (!request) return false;
    const decision: ApprovalDecision = { approved: true, approver, decidedAt: new Date().toISOString() };
    this.tokens.sendTaskSuccess(request.taskToken, decision);
    return true;
  }

  /** Rejects the run's pending cutover; the run rolls back with `reason`. False when nothing is pending. */
  reject(runId: string, approver: string, reason: string): boolean {
    const request = this.take(runId);
    if (!request) return false;
    this.tokens.sendTaskFailure(request.taskToken, 'CutoverRejectedError', `${reason} (rejected by ${approver})`);
    return true;
  }

  private take(runId: string): ApprovalRequest | undefined {
    const request = this.pending.get(runId);
    this.pending.delete(runId);
    return request && this.isOpen(request) ? request : undefined;
  }

  private isOpen(request: ApprovalRequest): boolean {
    return this.tokens.pending().some((task) => task.taskToken === request.taskToken);
  }
}
