import { ApprovalDecider, type TaskResponder } from '../../core/approvals/decide.js';
import { ApprovalNoLongerWaitingError } from '../../core/approvals/errors.js';
import type { ApprovalHttpRequest } from '../../core/approvals/http.js';
import { InMemoryApprovalStore } from '../../core/approvals/memory-store.js';
import { type ApprovalChannel, MultiChannelNotifier } from '../../core/approvals/notifier.js';
import { ApprovalPageHandler } from '../../core/approvals/page.js';
import type { PendingApproval } from '../../core/approvals/record.js';
import { ApprovalService } from '../../core/approvals/request.js';
import { LinkSigner } from '../../core/approvals/signed-link.js';
import { AWS_PROFILE } from '../../core/estimate/profile.js';
import type { ApprovalRequest } from '../../core/failback/run-state.js';

export const KEY = 'k'.repeat(48);
export const TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAA${'x'.repeat(60)}tokenSecret`;
export const APPROVER = 'ops@example.com';
export const PAGE_URL = 'https://approve.example.com';

/** The RequestApproval input as the state machine sends it. */
export function approvalRequest(overrides: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return {
    runId: 'run-2026-11-23',
    taskToken: TOKEN,
    timeoutSeconds: 3600,
    summary: {
      passes: 3,
      lastPassBytesChanged: 12 * 1024 * 1024,
      lastPassSeconds: 42,
      takeoverHostIds: ['i-0takeover'],
      failbackHostIds: ['i-0failback'],
      volumes: [{ hostId: 'i-0takeover', volumeId: 'vol-0aaa', sizeBytes: 8 * 1024 ** 3 }],
    },
    ...overrides,
  };
}

/** SendTaskSuccess/SendTaskFailure as calls recorded; `gone` makes them answer like a timed-out token. */
export class RecordingTasks implements TaskResponder {
  readonly calls: { kind: 'success' | 'failure'; taskToken: string; detail: unknown }[] = [];
  gone = false;

  async sendTaskSuccess(taskToken: string, output: Readonly<Record<string, unknown>>): Promise<void> {
    if (this.gone) throw new ApprovalNoLongerWaitingError('TaskTimedOut');
    this.calls.push({ kind: 'success', taskToken, detail: output });
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void> {
    if (this.gone) throw new ApprovalNoLongerWaitingError('TaskTimedOut');
    this.calls.push({ kind: 'failure', taskToken, detail: { error, cause } });
  }
}

/** A controllable clock. */
export class Clock {
  constructor(public current = new Date('2026-11-23T12:00:00Z')) {}
  readonly now = () => new Date(this.current);
  advance(seconds: number): void {
    this.current = new Date(this.current.getTime() + seconds * 1000);
  }
}

/** The approval machinery over memory, with a channel that keeps every approval it was asked to announce. */
export function approvalFixture(channels: ApprovalChannel[] = []) {
  const clock = new Clock();
  const store = new InMemoryApprovalStore();
  const tasks = new RecordingTasks();
  const signer = new LinkSigner(KEY);
  const announced: PendingApproval[] = [];
  const notifier = new MultiChannelNotifier(
    [
      {
        name: 'test',
        async requestDecision(approval) {
          announced.push(approval);
          return {};
        },
      },
      ...channels,
    ],
    (channel, step, error) => {
      throw new Error(`${channel} ${step}: ${String(error)}`);
    },
  );
  const decider = new ApprovalDecider({ store, tasks, now: clock.now });
  const service = new ApprovalService({
    store,
    notifier,
    approvers: { emails: [APPROVER, 'second@example.com'], slackUserIds: ['U0APPROVER'] },
    reminderLeadSeconds: 900,
    profile: AWS_PROFILE,
    now: clock.now,
  });
  const page = new ApprovalPageHandler({ signer, store, decider, now: clock.now });
  /** Requests an approval and returns it with the link signed for `approver`. */
  const request = async (approver = APPROVER, overrides: Partial<ApprovalRequest> = {}) => {
    await service.requestApproval(approvalRequest(overrides));
    const approval = announced.at(-1) as PendingApproval;
    const link = new URL(
      signer.url(PAGE_URL, {
        approvalId: approval.approvalId,
        approver: `email:${approver}`,
        expiresAt: approval.expiresAt,
      }),
    );
    return { approval, link };
  };
  return { clock, store, tasks, signer, notifier, decider, service, page, request, announced };
}

/** A request to the page for `link`. */
export function pageRequest(link: URL, method = 'GET', body = ''): ApprovalHttpRequest {
  return {
    method,
    path: link.pathname,
    query: link.searchParams,
    headers: { 'user-agent': 'vitest', 'content-type': 'application/x-www-form-urlencoded' },
    body,
    sourceIp: '198.51.100.7',
  };
}

/** The nonce in a confirmation page. */
export function nonceOf(html: string): string {
  const nonce = /name="nonce" value="([\w.-]+)"/.exec(html)?.[1];
  if (!nonce) throw new Error(`no nonce in page: ${html.slice(0, 200)}`);
  return nonce;
}

export const form = (decision: string, nonce: string) => new URLSearchParams({ decision, nonce }).toString();
