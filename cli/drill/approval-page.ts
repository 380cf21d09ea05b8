import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApprovalRequest } from '../../core/failback/run-state.js';

export type Decide = (decision: 'approve' | 'reject', approver: string) => boolean;

const MiB = 1024 * 1024;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * The drill's localhost approval page. The link carries an opaque random id, never the task token. GET and HEAD only
 * show the request and a form (a mail scanner or link preview decides nothing); a POST with the page's one-time nonce
 * decides. A decision is taken once; later posts are told it is already decided.
 */
export class ApprovalPage {
  private readonly id = randomBytes(16).toString('base64url');
  private readonly nonces = new Set<string>();
  private decided: string | undefined;

  private constructor(
    private readonly server: Server,
    private readonly request: ApprovalRequest,
    private readonly decide: Decide,
  ) {}

  static async open(request: ApprovalRequest, decide: Decide): Promise<{ page: ApprovalPage; url: string }> {
    let page: ApprovalPage | undefined;
    const server = createServer((req, res) => {
      page?.handle(req, res).catch(() => {
        res.statusCode = 500;
        res.end();
      });
    });
    page = new ApprovalPage(server, request, decide);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { page, url: `http://127.0.0.1:${port}/approvals/${page.id}` };
  }

  /** Records a decision taken elsewhere (the terminal), so the page says so. */
  markDecided(outcome: string): void {
    this.decided ??= outcome;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');
    if (req.url !== `/approvals/${this.id}`) return this.send(res, 404, 'Not found');
    if (req.method === 'GET' || req.method === 'HEAD') return this.send(res, 200, this.form(), req.method === 'HEAD');
    if (req.method !== 'POST') return this.send(res, 405, 'Method not allowed');
    const form = new URLSearchParams(await readBody(req));
    const nonce = form.get('nonce') ?? '';
    const known = [...this.nonces].find((candidate) => sameSecret(candidate, nonce));
    if (!known) return this.send(res, 403, 'This form has expired; reload the page.');
    this.nonces.delete(known);
    const decision = form.get('decision');
    if (decision !== 'approve' && decision !== 'reject') return this.send(res, 400, 'Choose approve or reject.');
    if (this.decided) return this.send(res, 409, `Already decided: ${escapeHtml(this.decided)}.`);
    const approver = `approval page (${req.socket.remoteAddress ?? 'localhost'})`;
    const taken = this.decide(decision, approver);
    this.decided = taken ? `${decision === 'approve' ? 'approved' : 'rejected'} by ${approver}` : 'no longer pending';
    return this.send(res, taken ? 200 : 409, `Cutover ${escapeHtml(this.decided)}.`);
  }

  private form(): string {
    if (this.decided) return `<p>Cutover ${escapeHtml(this.decided)}.</p>`;
    const nonce = randomBytes(16).toString('base64url');
    this.nonces.add(nonce);
    const { summary, runId } = this.request;
    const button = (decision: string, label: string) =>
      `<form method="post"><input type="hidden" name="nonce" value="${nonce}"><input type="hidden" name="decision" value="${decision}"><button>${label}</button></form>`;
    return `<h1>Approve the cutover of run ${escapeHtml(runId)}?</h1>
<p>${summary.passes} passes so far; the last one changed ${(summary.lastPassBytesChanged / MiB).toFixed(1)} MiB.</p>
<p>Approving stops the takeover hosts ${escapeHtml(summary.takeoverHostIds.join(', '))} (business suspended), runs the
final pass and starts the failback hosts ${escapeHtml(summary.failbackHostIds.join(', '))}.</p>
${button('approve', 'Approve cutover')} ${button('reject', 'Reject (roll back)')}`;
  }

  private send(res: ServerResponse, status: number, body: string, headOnly = false): void {
    res.statusCode = status;
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(headOnly ? undefined : `<!doctype html><meta charset="utf-8"><title>homebound approval</title>${body}`);
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 4096) throw new Error('approval form too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
