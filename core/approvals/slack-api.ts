import { ApprovalNotificationError } from './errors.js';

/** Slack's Web API base; a test points it at a local server. */
export const SLACK_API_URL = 'https://slack.com/api/';

/** Slack Block Kit blocks, loosely typed: Slack validates them. */
export type SlackBlock = Readonly<Record<string, unknown>>;

export interface SlackMessage {
  readonly channel: string;
  readonly text: string;
  readonly blocks?: readonly SlackBlock[];
  /** Reply in the thread of this message. */
  readonly threadTs?: string;
}

/**
 * The few Slack Web API methods the approval uses (chat.postMessage, chat.update, chat.postEphemeral), over fetch
 * with the bot token. Each call has a short time limit: the interaction endpoint must answer Slack within 3 s.
 */
export class SlackApi {
  constructor(
    private readonly botToken: string,
    private readonly baseUrl: string = SLACK_API_URL,
    private readonly timeoutMs = 2000,
  ) {}

  /** @returns where the message landed, to update it later */
  async postMessage(message: SlackMessage): Promise<{ channel: string; ts: string }> {
    const answer = await this.call('chat.postMessage', {
      channel: message.channel,
      text: message.text,
      ...(message.blocks ? { blocks: message.blocks } : {}),
      ...(message.threadTs ? { thread_ts: message.threadTs } : {}),
      unfurl_links: false,
      unfurl_media: false,
    });
    if (typeof answer.channel !== 'string' || typeof answer.ts !== 'string') {
      throw new ApprovalNotificationError('Slack chat.postMessage answered without channel and ts');
    }
    return { channel: answer.channel, ts: answer.ts };
  }

  async update(channel: string, ts: string, text: string, blocks: readonly SlackBlock[]): Promise<void> {
    await this.call('chat.update', { channel, ts, text, blocks });
  }

  /** A message only `user` sees (a refusal). */
  async postEphemeral(channel: string, user: string, text: string): Promise<void> {
    await this.call('chat.postEphemeral', { channel, user, text });
  }

  /** @throws ApprovalNotificationError when Slack answers an HTTP error or `ok: false` (its `error` named) */
  private async call(method: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const response = await fetch(new URL(method, this.baseUrl), {
      method: 'POST',
      headers: { Authorization: `Bearer ${this.botToken}`, 'Content-Type': 'application/json; charset=utf-8' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok) throw new ApprovalNotificationError(`Slack ${method}: HTTP ${response.status}`);
    const answer = (await response.json()) as unknown;
    if (typeof answer !== 'object' || answer === null || (answer as { ok?: unknown }).ok !== true) {
      const error = (answer as { error?: unknown } | null)?.error;
      throw new ApprovalNotificationError(`Slack ${method}: ${typeof error === 'string' ? error : 'not ok'}`);
    }
    return answer as Record<string, unknown>;
  }
}
