import type { Logger } from '@aws-lambda-powertools/logger';
import { type ApprovalDecider, isAllowed, refuseUnlessOpen } from './decide.js';
import {
  ApprovalNotFoundError,
  ApprovalRefusedError,
  ApprovalRequestMalformedError,
  ApproverNotAllowedError,
} from './errors.js';
import type { ApprovalHttpRequest, ApprovalHttpResponse } from './http.js';
import { MAX_BODY_BYTES, PAGE_HEADERS } from './http.js';
import { confirmationPage, decidedPage, layout, refusedPage } from './page-html.js';
import type { ApprovalStore, ApproverIdentity, PendingApproval } from './record.js';
import type { LinkClaims, LinkSigner } from './signed-link.js';

export interface ApprovalPageDeps {
  readonly signer: LinkSigner;
  readonly store: ApprovalStore;
  readonly decider: ApprovalDecider;
  readonly now: () => Date;
  readonly logger?: Logger | undefined;
}

const PATH = /^\/approvals\/([A-Za-z0-9_-]{1,64})$/;

/** The identity a link was sent to: links are per approver, `email:<address>`. */
function identityOf(claims: LinkClaims): ApproverIdentity {
  if (!claims.approver.startsWith('email:')) throw new ApprovalRequestMalformedError('link names no email approver');
  return { kind: 'email', email: claims.approver.slice('email:'.length) };
}

/**
 * The approval page, as a pure request → response function that the Lambda function URL and the drill's localhost
 * server both call. GET and HEAD verify the link and show the request with a form; they change nothing, so mail
 * scanners and link previews are harmless. POST with the form's one-time nonce decides through the decider.
 * Every refusal (forged, expired, replayed, decided, not allowed) is a page saying so, with nothing changed.
 */
export class ApprovalPageHandler {
  constructor(private readonly deps: ApprovalPageDeps) {}

  async handle(request: ApprovalHttpRequest): Promise<ApprovalHttpResponse> {
    const method = request.method.toUpperCase();
    const match = PATH.exec(request.path);
    if (!match?.[1]) return this.page(404, layout('Not found', '<h1>Not found</h1>'), method);
    if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') {
      return { status: 405, headers: { ...PAGE_HEADERS, Allow: 'GET, HEAD, POST' }, body: '' };
    }
    const approvalId = match[1];
    let approval: PendingApproval | undefined;
    try {
      const claims = this.deps.signer.verify(approvalId, request.query, this.nowSeconds());
      const approver = identityOf(claims);
      approval = await this.deps.store.get(approvalId);
      if (!approval) throw new ApprovalNotFoundError(`approval ${approvalId} not found`);
      if (!isAllowed(approval, approver)) throw new ApproverNotAllowedError(`${claims.approver} is not an approver`);
      if (method === 'POST') return await this.post(request, claims, approver);
      if (approval.status !== 'PENDING') return this.page(200, decidedPage(approval), method);
      refuseUnlessOpen(approval, this.nowSeconds());
      return this.page(
        200,
        confirmationPage(
          approval,
          approver.kind === 'email' ? approver.email : '',
          this.deps.signer.issueNonce(claims),
          this.deps.now(),
        ),
        method,
      );
    } catch (error) {
      if (!(error instanceof ApprovalRefusedError)) throw error;
      this.deps.logger?.warn('approval page request refused', {
        approvalId,
        method,
        refusal: error.name,
        reason: error.message,
        sourceIp: request.sourceIp,
        userAgent: request.headers['user-agent'],
      });
      const current = approval && (await this.deps.store.get(approvalId));
      return this.page(error.httpStatus, refusedPage(error.name, error.explanation, current), method);
    }
  }

  private async post(
    request: ApprovalHttpRequest,
    claims: LinkClaims,
    approver: ApproverIdentity,
  ): Promise<ApprovalHttpResponse> {
    if (Buffer.byteLength(request.body) > MAX_BODY_BYTES) throw new ApprovalRequestMalformedError('form too large');
    const form = new URLSearchParams(request.body);
    const decision = form.get('decision');
    const nonce = form.get('nonce') ?? '';
    this.deps.signer.verifyNonce(claims, nonce);
    if (decision !== 'approve' && decision !== 'reject') {
      throw new ApprovalRequestMalformedError('decision must be approve or reject');
    }
    const decided = await this.deps.decider.decide({
      approvalId: claims.approvalId,
      outcome: decision === 'approve' ? 'approved' : 'rejected',
      approver,
      channel: 'page',
      origin: {
        ...(request.sourceIp ? { sourceIp: request.sourceIp } : {}),
        ...(request.headers['user-agent'] ? { userAgent: request.headers['user-agent'].slice(0, 256) } : {}),
      },
      nonce,
    });
    return this.page(200, decidedPage(decided), 'POST');
  }

  private page(status: number, html: string, method: string): ApprovalHttpResponse {
    return { status, headers: PAGE_HEADERS, body: method === 'HEAD' ? '' : html };
  }

  private nowSeconds(): number {
    return Math.floor(this.deps.now().getTime() / 1000);
  }
}
