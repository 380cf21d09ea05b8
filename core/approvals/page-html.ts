import { formatBytes, formatDeadline, formatSeconds } from './estimate.js';
import type { PendingApproval } from './record.js';

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d2430}
table{border-collapse:collapse;margin:1rem 0}th,td{text-align:left;padding:.25rem .75rem .25rem 0;vertical-align:top}
th{color:#5b6472;font-weight:600}form{display:inline-block;margin:1rem 1rem 0 0}
button{font:inherit;padding:.6rem 1.2rem;border-radius:.4rem;border:1px solid #888;cursor:pointer}
button.approve{background:#1f7a3a;color:#fff;border-color:#1f7a3a}button.reject{background:#fff;color:#a1261a;border-color:#a1261a}
.note{color:#5b6472;font-size:.9rem}`;

/** A whole page: no scripts, nothing loaded from elsewhere. */
export function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><title>${escapeHtml(title)} — homebound</title><style>${STYLE}</style></head>
<body>${body}</body></html>`;
}

function rows(entries: readonly (readonly [string, string])[]): string {
  return `<table>${entries.map(([label, value]) => `<tr><th scope="row">${escapeHtml(label)}</th><td>${value}</td></tr>`).join('')}</table>`;
}

/** "just now", "1 minute ago", "25 minutes ago", "2 h 5 min ago". */
export function formatAge(seconds: number): string {
  const minutes = Math.floor(Math.max(0, seconds) / 60);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? '' : 's'} ago`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min ago`;
}

/**
 * When the figures were true: the last pass was applied (its snapshots' time plus its duration). The takeover hosts
 * keep writing while the approval waits, so the older the figures, the more catch-up passes run after the approval.
 * With `now` (the page) the age too; a message read later shows the time only.
 */
function figuresAsOf(approval: PendingApproval, now?: Date): string | undefined {
  const { lastPassStartedAt, lastPassSeconds } = approval.summary;
  const started = lastPassStartedAt === undefined ? Number.NaN : Date.parse(lastPassStartedAt);
  if (Number.isNaN(started)) return undefined;
  const appliedAt = started + lastPassSeconds * 1000;
  const when = escapeHtml(formatDeadline(Math.floor(appliedAt / 1000)));
  if (!now) return `the last pass, applied ${when}`;
  return `figures from ${formatAge((now.getTime() - appliedAt) / 1000)} (the last pass, applied ${when}); the takeover hosts keep writing, so catch-up passes run after approval until the changes are small again`;
}

/**
 * The facts of the request, as every page and message shows them (values HTML-escaped). With `now`, how old the
 * figures are.
 */
export function summaryRows(approval: PendingApproval, now?: Date): [string, string][] {
  const { summary, estimate } = approval;
  const asOf = figuresAsOf(approval, now);
  const list = (items: readonly string[]) => escapeHtml(items.join(', ') || '(none)');
  return [
    ['Run', escapeHtml(approval.runId)],
    ['Takeover hosts (stopped at cutover)', list(summary.takeoverHostIds)],
    ['Failback hosts (started at cutover)', list(summary.failbackHostIds)],
    [
      'Volumes',
      summary.volumes
        .map((v) => `${escapeHtml(v.volumeId)} on ${escapeHtml(v.hostId)} (${formatBytes(v.sizeBytes)})`)
        .join('<br>') || '(none)',
    ],
    ...(asOf ? [['Figures as of', asOf] as [string, string]] : []),
    ['Passes so far', String(summary.passes)],
    ['Last pass changed', `${formatBytes(summary.lastPassBytesChanged)} in ${formatSeconds(summary.lastPassSeconds)}`],
    ['Final pass (estimate)', `about ${formatSeconds(estimate.finalPassSeconds)}`],
    ['Downtime (estimate)', `about ${formatSeconds(estimate.downtimeSeconds)}, takeover stopped → failback verified`],
    [
      'Who may decide',
      list([...approval.approvers.emails, ...approval.approvers.slackUserIds.map((id) => `Slack ${id}`)]),
    ],
    ['Deadline', `${escapeHtml(formatDeadline(approval.expiresAt))} — no decision by then rolls back`],
  ];
}

/** What a wait asks: a cutover decision, or (the manual platform) the operator's word that the hosts are up. */
export function approvalQuestion(approval: PendingApproval): {
  title: string;
  intro: string;
  approve: string;
  reject: string;
} {
  if (approval.summary.instructions !== undefined) {
    return {
      title: `Confirm the hosts are up: run ${approval.runId}`,
      intro: `Confirm the hosts are up. The failback hosts were handed their disks; homebound cannot see them, so a person confirms they run. ${approval.summary.instructions}`,
      approve: 'Confirm the hosts are up',
      reject: 'Not up (roll back)',
    };
  }
  return {
    title: `Approve the cutover of run ${approval.runId}?`,
    intro:
      'Approving stops the takeover hosts (business suspended), runs the final pass, and starts the failback hosts. Rejecting rolls the run back; the takeover hosts keep running.',
    approve: 'Approve cutover',
    reject: 'Reject (roll back)',
  };
}

/** The confirmation page: the facts and a plain POST form per choice, each carrying the one-time nonce. */
export function confirmationPage(approval: PendingApproval, approver: string, nonce: string, now?: Date): string {
  const form = (decision: 'approve' | 'reject', label: string) =>
    `<form method="post"><input type="hidden" name="nonce" value="${escapeHtml(nonce)}"><input type="hidden" name="decision" value="${decision}"><button type="submit" class="${decision}" name="choice" value="${decision}">${label}</button></form>`;
  const question = approvalQuestion(approval);
  return layout(
    question.title,
    `<h1>${escapeHtml(question.title)}</h1>
<p>${escapeHtml(question.intro)}</p>
${rows(summaryRows(approval, now))}
<p>You are deciding as <strong>${escapeHtml(approver)}</strong>.</p>
${form('approve', escapeHtml(question.approve))}${form('reject', escapeHtml(question.reject))}
<p class="note">Opening this page decides nothing; only these buttons do, once.</p>`,
  );
}

/** The page after a decision was taken here. */
export function decidedPage(approval: PendingApproval): string {
  const decision = approval.decision;
  const outcome = decision?.outcome === 'approved' ? 'approved' : 'rejected';
  const next =
    outcome === 'approved'
      ? 'The run goes on to the final pass and the cutover.'
      : 'The run rolls back; the takeover hosts keep running.';
  return layout(
    `Cutover ${outcome}`,
    `<h1 data-outcome="${outcome}">Cutover ${outcome}</h1>
<p>Run ${escapeHtml(approval.runId)}: ${outcome} by ${escapeHtml(decision?.approver ?? '')} at ${escapeHtml(decision?.decidedAt ?? '')}. ${next}</p>`,
  );
}

/** The page for a request that was refused: what happened, and (when known) how the approval stands. */
export function refusedPage(code: string, explanation: string, approval?: PendingApproval): string {
  const decision = approval?.decision;
  const standing = decision
    ? `<p>Run ${escapeHtml(approval.runId)} was ${escapeHtml(decision.outcome)} by ${escapeHtml(decision.approver)} at ${escapeHtml(decision.decidedAt)}.</p>`
    : '';
  return layout(
    'Nothing was changed',
    `<h1 data-refused="${escapeHtml(code)}">Nothing was changed</h1>
<p>${escapeHtml(explanation)}</p>${standing}`,
  );
}
