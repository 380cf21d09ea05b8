import { randomBytes } from 'node:crypto';
import { ApprovalDecider, type TaskResponder } from '../approvals/decide.js';
import { ApprovalNoLongerWaitingError, ApprovalRefusedError } from '../approvals/errors.js';
import { InMemoryApprovalStore } from '../approvals/memory-store.js';
import { MultiChannelNotifier } from '../approvals/notifier.js';
import { ApprovalPageHandler } from '../approvals/page.js';
import type { AuditRecord } from '../approvals/record.js';
import { ApprovalService } from '../approvals/request.js';
import { LinkSigner } from '../approvals/signed-link.js';
import { verifyRecordedDecision } from '../approvals/verify.js';
import { LOCAL_PROFILE } from '../estimate/profile.js';
import { TaskDoesNotExistError, TaskTimedOutError } from '../orchestration/errors.js';
import type { TaskTokenRegistry } from '../orchestration/local-runner.js';
import type { ApprovalPort, ApprovalRequest, VerifiedDecision } from './run-state.js';

/** What the approver decided, as the state machine receives it on approval. */
export interface ApprovalDecision {
  readonly approved: true;
  readonly approver: string;
  readonly decidedAt: string;
}

/** An approval the local drill is waiting on: its run and the operator's signed page link (no token). */
export interface LocalApprovalRequest {
  readonly runId: string;
  readonly approvalId: string;
  /** The operator's approval page link: `<page url>/approvals/<id>?a=…&exp=…&sig=…`. */
  readonly url: string;
}

/** The one approver of a local run: whoever runs the drill. */
export const LOCAL_OPERATOR_EMAIL = 'drill-operator@localhost';

/** The local runner's token registry as the decider's TaskResponder: its errors mean the run stopped waiting. */
function localTaskResponder(tokens: TaskTokenRegistry): TaskResponder {
  const gone = (error: unknown) =>
    error instanceof TaskTimedOutError || error instanceof TaskDoesNotExistError
      ? new ApprovalNoLongerWaitingError(error.message, { cause: error })
      : error;
  return {
    async sendTaskSuccess(taskToken, output) {
      try {
        tokens.sendTaskSuccess(taskToken, output);
      } catch (error) {
        throw gone(error);
      }
    },
    async sendTaskFailure(taskToken, error, cause) {
      try {
        tokens.sendTaskFailure(taskToken, error, cause);
      } catch (failure) {
        throw gone(failure);
      }
    },
  };
}

/**
 * The approval port on the local cloud: the same service, decider and page handler as on AWS, over an in-memory store
 * and a fresh link key. Instead of email and Slack it hands the operator's signed page link to whoever waits in
 * {@link next} (the drill prints it). The task token stays in the store.
 */
export class LocalApprovals implements ApprovalPort {
  readonly store = new InMemoryApprovalStore();
  readonly decider: ApprovalDecider;
  /** The approval page; serve it over HTTP (cli/drill/approval-page.ts) and tell {@link setPageUrl} where. */
  readonly page: ApprovalPageHandler;
  private readonly service: ApprovalService;
  private readonly signer = new LinkSigner(randomBytes(32).toString('base64url'));
  private readonly requests: LocalApprovalRequest[] = [];
  private readonly waiting = new Set<(request: LocalApprovalRequest) => void>();
  private pageUrl = 'http://127.0.0.1';

  constructor(private readonly tokens: TaskTokenRegistry) {
    const now = () => new Date();
    this.decider = new ApprovalDecider({ store: this.store, tasks: localTaskResponder(tokens), now });
    this.page = new ApprovalPageHandler({ signer: this.signer, store: this.store, decider: this.decider, now });
    const notifier = new MultiChannelNotifier(
      [
        {
          name: 'drill',
          requestDecision: async (approval) => {
            const url = this.signer.url(this.pageUrl, {
              approvalId: approval.approvalId,
              approver: `email:${LOCAL_OPERATOR_EMAIL}`,
              expiresAt: approval.expiresAt,
            });
            this.announce({ runId: approval.runId, approvalId: approval.approvalId, url });
            return {};
          },
        },
      ],
      () => undefined,
    );
    this.service = new ApprovalService({
      store: this.store,
      notifier,
      approvers: { emails: [LOCAL_OPERATOR_EMAIL], slackUserIds: [] },
      reminderLeadSeconds: 0,
      // Stopping, snapshotting and starting local hosts takes seconds, not the minutes EC2 does.
      profile: LOCAL_PROFILE,
      now,
    });
  }

  /** Where the page is served, e.g. `http://127.0.0.1:41234`; links made from now on point there. */
  setPageUrl(url: string): void {
    this.pageUrl = url;
  }

  async requestApproval(request: ApprovalRequest): Promise<void> {
    await this.service.requestApproval(request);
  }

  /** The drill's allow-list: its one emailed approver, and the operator at the terminal. */
  async verifyDecision(runId: string): Promise<VerifiedDecision> {
    return verifyRecordedDecision(this.store, runId, {
      approvers: { emails: [LOCAL_OPERATOR_EMAIL], slackUserIds: [] },
      operators: true,
    });
  }

  /** Resolves with the next approval request still waiting (at once if one is). */
  next(): Promise<LocalApprovalRequest> {
    const open = this.requests.find((request) => this.isOpen(request));
    if (open) return Promise.resolve(open);
    return new Promise((resolve) => this.waiting.add(resolve));
  }

  /** Approves the run's pending cutover as the operator. False when nothing is pending (decided, or timed out). */
  approve(runId: string, operator: string): Promise<boolean> {
    return this.decide(runId, 'approved', operator);
  }

  /** Rejects the run's pending cutover as the operator; the run rolls back with `reason`. False when nothing is pending. */
  reject(runId: string, operator: string, reason: string): Promise<boolean> {
    return this.decide(runId, 'rejected', operator, reason);
  }

  /** Every decision taken, oldest first. */
  auditTrail(): AuditRecord[] {
    return this.store.auditTrail();
  }

  private async decide(
    runId: string,
    outcome: 'approved' | 'rejected',
    operator: string,
    reason?: string,
  ): Promise<boolean> {
    const request = this.requests.find((candidate) => candidate.runId === runId && this.isOpen(candidate));
    if (!request) return false;
    try {
      await this.decider.decide({
        approvalId: request.approvalId,
        outcome,
        approver: { kind: 'operator', name: operator },
        channel: 'terminal',
        origin: {},
        reason,
      });
      return true;
    } catch (error) {
      if (error instanceof ApprovalRefusedError) return false;
      throw error;
    }
  }

  private announce(request: LocalApprovalRequest): void {
    this.requests.push(request);
    for (const notify of this.waiting) notify(request);
    this.waiting.clear();
  }

  /** Still undecided, and its run still waiting on the token. */
  private isOpen(request: LocalApprovalRequest): boolean {
    const stored = this.store.snapshot().find((approval) => approval.approvalId === request.approvalId);
    return stored?.status === 'PENDING' && this.tokens.pending().some((task) => task.taskToken === stored.taskToken);
  }
}
