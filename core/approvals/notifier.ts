import { ApprovalNotificationError } from './errors.js';
import type { PendingApproval, SlackMessageRef } from './record.js';

/**
 * Tells approvers about an approval: the request, a reminder before the deadline, and the outcome. Implementations
 * put links (opaque id + expiry + signature) and buttons in what they send, never the task token.
 */
export interface ApprovalNotifier {
  /** Asks every approver for a decision. Returns the Slack message posted, to update it later. */
  requestDecision(approval: PendingApproval): Promise<{ readonly slackMessage?: SlackMessageRef | undefined }>;
  /** Reminds every approver that the deadline is near. */
  remind(approval: PendingApproval): Promise<void>;
  /** Says how it ended (updates the Slack message with the decision and who made it). */
  decided(approval: PendingApproval): Promise<void>;
}

/** A channel of the notifier: email, Slack, or the drill's console. */
export type ApprovalChannel = Partial<ApprovalNotifier> & { readonly name: string };

/**
 * Sends through every channel. A channel that fails is reported through `onError` and the others still send; the
 * request fails only when no channel reached anyone, since then nobody can decide.
 */
export class MultiChannelNotifier implements ApprovalNotifier {
  constructor(
    private readonly channels: readonly ApprovalChannel[],
    private readonly onError: (channel: string, step: string, error: unknown) => void,
  ) {}

  async requestDecision(approval: PendingApproval): Promise<{ slackMessage?: SlackMessageRef | undefined }> {
    let slackMessage: SlackMessageRef | undefined;
    const failures: unknown[] = [];
    let delivered = 0;
    for (const channel of this.channels) {
      if (!channel.requestDecision) continue;
      try {
        const sent = await channel.requestDecision(approval);
        slackMessage ??= sent.slackMessage;
        delivered += 1;
      } catch (error) {
        failures.push(error);
        this.onError(channel.name, 'request', error);
      }
    }
    if (delivered === 0 && failures.length > 0) throw failures[0];
    if (delivered === 0) {
      throw new ApprovalNotificationError('no approval channel can reach the approvers (email and Slack both unset)');
    }
    return { slackMessage };
  }

  async remind(approval: PendingApproval): Promise<void> {
    await this.each('remind', (channel) => channel.remind?.(approval));
  }

  async decided(approval: PendingApproval): Promise<void> {
    await this.each('decided', (channel) => channel.decided?.(approval));
  }

  private async each(step: string, send: (channel: ApprovalChannel) => Promise<void> | undefined): Promise<void> {
    for (const channel of this.channels) {
      try {
        await send(channel);
      } catch (error) {
        this.onError(channel.name, step, error);
      }
    }
  }
}
