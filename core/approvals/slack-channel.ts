import { formatDeadline } from './estimate.js';
import type { ApprovalChannel } from './notifier.js';
import { approvalQuestion } from './page-html.js';
import type { PendingApproval } from './record.js';
import type { SlackApi, SlackBlock } from './slack-api.js';

/** The action ids of the two buttons; the interaction endpoint acts on these only. */
export const SLACK_ACTIONS = { approve: 'homebound_approve', reject: 'homebound_reject' } as const;

/** The HTML-free text of the request's facts (Slack mrkdwn escapes only &, <, >). */
function mrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function facts(approval: PendingApproval): string {
  const { summary, estimate } = approval;
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return [
    `*Takeover hosts* (stopped at cutover): ${summary.takeoverHostIds.join(', ')}`,
    `*Failback hosts*: ${summary.failbackHostIds.join(', ')}`,
    `*Volumes*: ${summary.volumes.map((v) => `${v.volumeId} (${mib(v.sizeBytes)})`).join(', ')}`,
    `*Last pass* (${summary.passes} so far): ${mib(summary.lastPassBytesChanged)} in ${Math.round(summary.lastPassSeconds)} s`,
    `*Estimate*: final pass ~${estimate.finalPassSeconds} s, downtime ~${estimate.downtimeSeconds} s`,
    `*Deadline*: ${formatDeadline(approval.expiresAt)} (no decision rolls back)`,
    `*Who may decide*: ${approval.approvers.slackUserIds.map((id) => `<@${id}>`).join(', ') || 'email approvers only'}`,
  ]
    .map(mrkdwn)
    .join('\n')
    .replace(/&lt;@([A-Z0-9]+)&gt;/g, '<@$1>');
}

/**
 * The request as Block Kit: the facts and two interactive buttons (action_id, value = the opaque approval id). No
 * URL buttons and no links, so a link preview or unfurl has nothing to fetch; the click arrives signed by Slack.
 */
export function requestBlocks(approval: PendingApproval): SlackBlock[] {
  return [
    { type: 'header', text: { type: 'plain_text', text: approvalQuestion(approval).title } },
    ...(approval.summary.instructions === undefined
      ? []
      : [{ type: 'section', text: { type: 'mrkdwn', text: mrkdwn(approvalQuestion(approval).intro) } }]),
    { type: 'section', text: { type: 'mrkdwn', text: facts(approval) } },
    {
      type: 'actions',
      block_id: 'homebound_decision',
      elements: [
        {
          type: 'button',
          action_id: SLACK_ACTIONS.approve,
          style: 'primary',
          text: { type: 'plain_text', text: approvalQuestion(approval).approve },
          value: approval.approvalId,
          confirm: {
            title: { type: 'plain_text', text: 'Approve the cutover?' },
            text: { type: 'plain_text', text: 'The takeover hosts stop and business is suspended until failback.' },
            confirm: { type: 'plain_text', text: 'Approve' },
            deny: { type: 'plain_text', text: 'Cancel' },
          },
        },
        {
          type: 'button',
          action_id: SLACK_ACTIONS.reject,
          style: 'danger',
          text: { type: 'plain_text', text: approvalQuestion(approval).reject },
          value: approval.approvalId,
        },
      ],
    },
  ];
}

/** The message after the decision: the facts, and who decided what, with no buttons left. */
export function decidedBlocks(approval: PendingApproval): SlackBlock[] {
  const decision = approval.decision;
  const who = decision?.approver.startsWith('slack:')
    ? `<@${decision.approver.slice(6)}>`
    : mrkdwn(decision?.approver ?? '');
  const line =
    decision?.outcome === 'timed-out'
      ? ':hourglass: No decision by the deadline: the run rolled back.'
      : `${decision?.outcome === 'approved' ? ':white_check_mark: Approved' : ':x: Rejected'} by ${who} via ${decision?.channel} at ${decision?.decidedAt}`;
  return [
    { type: 'header', text: { type: 'plain_text', text: `Cutover of run ${approval.runId}` } },
    { type: 'section', text: { type: 'mrkdwn', text: facts(approval) } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: line }] },
  ];
}

/** The Slack channel of the notifier: posts the request, a threaded reminder, and updates the request when decided. */
export function slackChannel(api: SlackApi, channel: string): ApprovalChannel {
  return {
    name: 'slack',
    async requestDecision(approval) {
      const text = `Approve the cutover of run ${approval.runId}? Deadline ${formatDeadline(approval.expiresAt)}.`;
      const slackMessage = await api.postMessage({ channel, text, blocks: requestBlocks(approval) });
      return { slackMessage };
    },
    async remind(approval) {
      const mentions = approval.approvers.slackUserIds.map((id) => `<@${id}>`).join(' ');
      await api.postMessage({
        channel: approval.slackMessage?.channel ?? channel,
        text: `${mentions} Reminder: the cutover of run ${approval.runId} needs a decision by ${formatDeadline(approval.expiresAt)}, or it rolls back.`,
        ...(approval.slackMessage ? { threadTs: approval.slackMessage.ts } : {}),
      });
    },
    async decided(approval) {
      if (!approval.slackMessage) return;
      const text = `Cutover of run ${approval.runId}: ${approval.decision?.outcome ?? 'decided'}`;
      await api.update(approval.slackMessage.channel, approval.slackMessage.ts, text, decidedBlocks(approval));
    },
  };
}
