import { formatBytes, formatDeadline, formatSeconds } from './estimate.js';
import type { ApprovalChannel } from './notifier.js';
import { approvalQuestion, escapeHtml, summaryRows } from './page-html.js';
import type { PendingApproval } from './record.js';
import type { LinkSigner } from './signed-link.js';

/** One email to one person. */
export interface ApprovalEmail {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** Sends an email (SES on AWS). */
export interface EmailSender {
  send(email: ApprovalEmail): Promise<void>;
}

function textSummary(approval: PendingApproval): string {
  const { summary, estimate } = approval;
  return [
    `Run: ${approval.runId}`,
    `Takeover hosts (stopped at cutover): ${summary.takeoverHostIds.join(', ')}`,
    `Failback hosts (started at cutover): ${summary.failbackHostIds.join(', ')}`,
    `Volumes: ${summary.volumes.map((v) => `${v.volumeId} (${formatBytes(v.sizeBytes)})`).join(', ')}`,
    `Last pass: ${formatBytes(summary.lastPassBytesChanged)} in ${formatSeconds(summary.lastPassSeconds)} (${summary.passes} passes so far)`,
    `Estimate: final pass about ${formatSeconds(estimate.finalPassSeconds)}, downtime about ${formatSeconds(estimate.downtimeSeconds)}`,
    `Deadline: ${formatDeadline(approval.expiresAt)} (no decision by then rolls back)`,
  ].join('\n');
}

/** The request email for one approver, with that approver's own signed link. */
export function requestEmail(approval: PendingApproval, to: string, link: string, reminder = false): ApprovalEmail {
  const confirmation = approval.summary.instructions !== undefined;
  const subject = confirmation
    ? `${reminder ? 'Reminder: ' : ''}confirm the hosts are up for run ${approval.runId} by ${formatDeadline(approval.expiresAt)}`
    : `${reminder ? 'Reminder: ' : ''}approve the cutover of run ${approval.runId} by ${formatDeadline(approval.expiresAt)}`;
  const intro = confirmation
    ? approvalQuestion(approval).intro
    : reminder
      ? 'The cutover below still needs a decision; without one by the deadline the run rolls back.'
      : 'homebound is ready to cut over. Approving stops the takeover hosts (business suspended), runs the final pass and starts the failback hosts.';
  const text = `${intro}\n\n${textSummary(approval)}\n\nReview and decide (opening the page decides nothing):\n${link}\n\nThis link is yours: it records you as the approver. Do not forward it.\n`;
  const table = summaryRows(approval)
    .map(([label, value]) => `<tr><th align="left">${escapeHtml(label)}</th><td>${value}</td></tr>`)
    .join('');
  const html = `<p>${escapeHtml(intro)}</p><table>${table}</table><p><a href="${escapeHtml(link)}">Review and decide</a> (opening the page decides nothing).</p><p>This link is yours: it records you as the approver. Do not forward it.</p>`;
  return { to, subject, text, html };
}

/**
 * The email channel: one message per approver, each with a link signed for that approver (opaque id, approver,
 * expiry), so the page knows who decides. Nothing in it acts on its own: the page asks for a POST.
 */
export function emailChannel(sender: EmailSender, signer: LinkSigner, pageUrl: string): ApprovalChannel {
  const sendAll = async (approval: PendingApproval, reminder: boolean) => {
    for (const email of approval.approvers.emails) {
      const link = signer.url(pageUrl, {
        approvalId: approval.approvalId,
        approver: `email:${email.toLowerCase()}`,
        expiresAt: approval.expiresAt,
      });
      await sender.send(requestEmail(approval, email, link, reminder));
    }
  };
  return {
    name: 'email',
    async requestDecision(approval) {
      if (approval.approvers.emails.length > 0) await sendAll(approval, false);
      return {};
    },
    async remind(approval) {
      await sendAll(approval, true);
    },
  };
}
