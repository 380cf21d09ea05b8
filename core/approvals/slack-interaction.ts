import type { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import type { ApprovalDecider } from './decide.js';
import { ApprovalRefusedError, ApprovalRequestMalformedError, SlackWorkspaceNotAllowedError } from './errors.js';
import type { ApprovalHttpRequest, ApprovalHttpResponse } from './http.js';
import { MAX_BODY_BYTES } from './http.js';
import type { ApprovalNotifier } from './notifier.js';
import type { SlackApi } from './slack-api.js';
import { SLACK_ACTIONS } from './slack-channel.js';
import { verifySlackRequest } from './slack-signature.js';

/** The part of a Slack `block_actions` payload the endpoint reads. */
const BlockActions = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().min(1), username: z.string().optional(), name: z.string().optional() }),
  team: z.object({ id: z.string() }).nullish(),
  channel: z.object({ id: z.string() }).nullish(),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional() })).min(1),
});

/** Where approval clicks may come from: the Slack app's workspace and the approval channel. */
export interface SlackWorkspace {
  /** The workspace (team) id, `T…`. */
  readonly teamId: string;
  /** The channel the requests are posted to (`homebound:slackChannel`); unchecked when absent. */
  readonly channelId?: string | undefined;
}

export interface SlackInteractionDeps {
  readonly signingSecret: string;
  readonly workspace: SlackWorkspace;
  readonly slack: SlackApi;
  readonly decider: ApprovalDecider;
  readonly notifier: ApprovalNotifier;
  readonly now: () => Date;
  readonly logger?: Logger | undefined;
}

const ACK: ApprovalHttpResponse = { status: 200, headers: { 'Content-Type': 'text/plain' }, body: '' };
const text = (status: number, body: string): ApprovalHttpResponse => ({
  status,
  headers: { 'Content-Type': 'text/plain; charset=utf-8' },
  body,
});

/**
 * Slack's interactivity endpoint for the Approve/Reject buttons. Verifies the signature over the raw body (v0, 300 s,
 * constant time) before reading anything, then decides as the clicking Slack user through the same decider as the
 * page, so the allow-list, the conditional update and the audit are the same. A click from another workspace or
 * channel than the configured ones is refused (403) before anything else. Answers 200 at once after that (Slack
 * wants an answer within 3 s); refusals go to the clicking user as an ephemeral message, the decision into the
 * original message.
 */
export class SlackInteractionHandler {
  constructor(private readonly deps: SlackInteractionDeps) {}

  async handle(request: ApprovalHttpRequest): Promise<ApprovalHttpResponse> {
    const { logger } = this.deps;
    if (request.method.toUpperCase() !== 'POST') return text(405, 'POST only');
    if (Buffer.byteLength(request.body) > MAX_BODY_BYTES) return text(413, 'too large');
    const nowSeconds = Math.floor(this.deps.now().getTime() / 1000);
    try {
      verifySlackRequest(this.deps.signingSecret, request.headers, request.body, nowSeconds);
    } catch (error) {
      if (!(error instanceof ApprovalRefusedError)) throw error;
      logger?.warn('Slack request refused', { refusal: error.name, reason: error.message, sourceIp: request.sourceIp });
      return text(error.httpStatus, error.explanation);
    }
    const payload = parsePayload(request.body);
    if (!payload) return text(400, new ApprovalRequestMalformedError('').explanation);
    // A signing secret is per app, and an app can be installed in several workspaces: the signature alone does not
    // say the click came from ours. Refused before anything is read or decided, and no reply goes to the stranger.
    const foreign = this.foreignOrigin(payload);
    if (foreign) {
      logger?.warn('Slack request refused', {
        refusal: foreign.name,
        reason: foreign.message,
        sourceIp: request.sourceIp,
      });
      return text(foreign.httpStatus, foreign.explanation);
    }
    const action = payload.actions.find(
      (candidate) => candidate.action_id === SLACK_ACTIONS.approve || candidate.action_id === SLACK_ACTIONS.reject,
    );
    if (!action?.value) return ACK; // another app's button, or no value: nothing for homebound
    const userId = payload.user.id;
    try {
      const approval = await this.deps.decider.decide({
        approvalId: action.value,
        outcome: action.action_id === SLACK_ACTIONS.approve ? 'approved' : 'rejected',
        approver: { kind: 'slack', userId, name: payload.user.username ?? payload.user.name },
        channel: 'slack',
        origin: {
          ...(payload.team?.id ? { slackTeamId: payload.team.id } : {}),
          ...(payload.channel?.id ? { slackChannelId: payload.channel.id } : {}),
        },
      });
      await this.deps.notifier.decided(approval);
    } catch (error) {
      if (!(error instanceof ApprovalRefusedError)) throw error;
      logger?.warn('Slack decision refused', { approvalId: action.value, slackUserId: userId, refusal: error.name });
      if (payload.channel?.id) {
        await this.deps.slack
          .postEphemeral(payload.channel.id, userId, `Nothing was changed. ${error.explanation}`)
          .catch((notSent: unknown) => logger?.warn('Slack ephemeral reply failed', { error: String(notSent) }));
      }
    }
    return ACK;
  }

  private foreignOrigin(payload: z.infer<typeof BlockActions>): SlackWorkspaceNotAllowedError | undefined {
    const { teamId, channelId } = this.deps.workspace;
    const team = payload.team?.id;
    if (team !== teamId) return new SlackWorkspaceNotAllowedError(`team ${team ?? '(none)'} is not ${teamId}`);
    const channel = payload.channel?.id;
    if (channelId !== undefined && channel !== channelId) {
      return new SlackWorkspaceNotAllowedError(`channel ${channel ?? '(none)'} is not ${channelId}`);
    }
    return undefined;
  }
}

function parsePayload(body: string): z.infer<typeof BlockActions> | undefined {
  const raw = new URLSearchParams(body).get('payload');
  if (!raw) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const parsed = BlockActions.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
