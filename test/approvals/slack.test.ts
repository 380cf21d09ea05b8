import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SlackRequestStaleError } from '../../core/approvals/errors.js';
import { SlackApi } from '../../core/approvals/slack-api.js';
import { SLACK_ACTIONS, slackChannel } from '../../core/approvals/slack-channel.js';
import { SlackInteractionHandler } from '../../core/approvals/slack-interaction.js';
import { slackSignature, verifySlackRequest } from '../../core/approvals/slack-signature.js';
import { approvalFixture, TOKEN } from './fixture.js';
import { LocalSlackApi } from './slack-server.js';

const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
let slackApi: LocalSlackApi;
beforeAll(async () => {
  slackApi = await LocalSlackApi.start();
});
afterAll(async () => {
  await slackApi.stop();
});
beforeEach(() => {
  slackApi.calls.length = 0;
  slackApi.failWith = undefined;
});

function setup() {
  const api = new SlackApi('xoxb-test-bot-token', slackApi.url);
  const fixture = approvalFixture([slackChannel(api, 'C0APPROVALS')]);
  const handler = new SlackInteractionHandler({
    signingSecret: SIGNING_SECRET,
    workspace: { teamId: 'T0TEAM', channelId: 'C0APPROVALS' },
    slack: api,
    decider: fixture.decider,
    notifier: fixture.notifier,
    now: fixture.clock.now,
  });
  return { ...fixture, handler };
}

/** A block_actions interaction as Slack posts it, signed at `signedAt` (epoch s). */
function interaction(
  approvalId: string,
  actionId: string,
  userId: string,
  signedAt: number,
  secret = SIGNING_SECRET,
  where = { team: 'T0TEAM', channel: 'C0APPROVALS' },
) {
  const payload = {
    type: 'block_actions',
    user: { id: userId, username: userId === 'U0APPROVER' ? 'ada' : 'mallory' },
    team: { id: where.team },
    channel: { id: where.channel },
    container: { type: 'message', message_ts: '1700000000.001', channel_id: 'C0APPROVALS' },
    actions: [{ action_id: actionId, block_id: 'homebound_decision', value: approvalId, type: 'button' }],
    response_url: 'https://hooks.slack.com/actions/T0TEAM/1/abc',
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(signedAt);
  return {
    method: 'POST',
    path: '/slack/interactions',
    query: new URLSearchParams(),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': slackSignature(secret, timestamp, body),
    },
    body,
  };
}

const nowSeconds = (f: { clock: { now: () => Date } }) => Math.floor(f.clock.now().getTime() / 1000);

describe('Slack approval', () => {
  it('posts a Block Kit message with Approve/Reject buttons by action_id, no URL, and remembers where', async () => {
    const { request, store } = setup();
    const { approval } = await request();

    const post = slackApi.calls.find((call) => call.method === 'chat.postMessage');
    expect(post?.authorization).toBe('Bearer xoxb-test-bot-token');
    const blocks = post?.body.blocks as { type: string; elements?: Record<string, unknown>[] }[];
    const buttons = blocks.find((block) => block.type === 'actions')?.elements ?? [];
    expect(buttons.map((b) => [b.action_id, b.value])).toEqual([
      [SLACK_ACTIONS.approve, approval.approvalId],
      [SLACK_ACTIONS.reject, approval.approvalId],
    ]);
    for (const button of buttons) expect(button).not.toHaveProperty('url');
    expect(JSON.stringify(post?.body)).not.toMatch(/https?:\/\//);
    expect(post?.body.unfurl_links).toBe(false);
    expect((await store.get(approval.approvalId))?.slackMessage).toEqual({
      channel: 'C0APPROVALS',
      ts: '1700000000.001',
    });
  });

  it('decides as an allowed user: audit names the Slack user, SendTaskSuccess, message updated with who decided', async () => {
    const f = setup();
    const { approval } = await f.request();

    const response = await f.handler.handle(
      interaction(approval.approvalId, SLACK_ACTIONS.approve, 'U0APPROVER', nowSeconds(f)),
    );

    expect(response.status).toBe(200);
    expect(f.tasks.calls).toEqual([expect.objectContaining({ kind: 'success', taskToken: TOKEN })]);
    expect(f.store.auditTrail()).toEqual([
      expect.objectContaining({
        approver: 'slack:U0APPROVER',
        approverName: 'ada',
        channel: 'slack',
        origin: { slackTeamId: 'T0TEAM', slackChannelId: 'C0APPROVALS' },
      }),
    ]);
    const update = slackApi.calls.find((call) => call.method === 'chat.update');
    expect(update?.body).toMatchObject({ channel: 'C0APPROVALS', ts: '1700000000.001' });
    expect(JSON.stringify(update?.body.blocks)).toContain('Approved by <@U0APPROVER> via slack');
    expect(JSON.stringify(update?.body.blocks)).not.toContain(SLACK_ACTIONS.approve);
  });

  it('rejects with the Reject button: SendTaskFailure CutoverRejectedError', async () => {
    const f = setup();
    const { approval } = await f.request();
    await f.handler.handle(interaction(approval.approvalId, SLACK_ACTIONS.reject, 'U0APPROVER', nowSeconds(f)));
    expect(f.tasks.calls).toEqual([
      expect.objectContaining({ kind: 'failure', detail: expect.objectContaining({ error: 'CutoverRejectedError' }) }),
    ]);
  });

  describe('refuses, changing nothing', () => {
    async function refused(
      build: (f: ReturnType<typeof setup>, approvalId: string) => ReturnType<typeof interaction>,
      expected: { status: number; ephemeral?: string },
      before?: (f: ReturnType<typeof setup>, approvalId: string) => Promise<void>,
    ) {
      const f = setup();
      const { approval } = await f.request();
      await before?.(f, approval.approvalId);
      const stored = f.store.snapshot();
      const calls = f.tasks.calls.length;
      slackApi.calls.length = 0;

      const response = await f.handler.handle(build(f, approval.approvalId));

      expect(response.status).toBe(expected.status);
      expect(f.store.snapshot()).toEqual(stored);
      expect(f.tasks.calls).toHaveLength(calls);
      if (expected.ephemeral) {
        expect(slackApi.calls).toEqual([
          expect.objectContaining({
            method: 'chat.postEphemeral',
            body: expect.objectContaining({
              user: expect.any(String),
              text: expect.stringContaining(expected.ephemeral),
            }),
          }),
        ]);
      } else expect(slackApi.calls).toEqual([]);
    }

    it('a bad signature (another secret, or an altered body)', async () => {
      await refused((f, id) => interaction(id, SLACK_ACTIONS.approve, 'U0APPROVER', nowSeconds(f), 'wrong-secret'), {
        status: 401,
      });
      await refused(
        (f, id) => {
          const signed = interaction(id, SLACK_ACTIONS.reject, 'U0APPROVER', nowSeconds(f));
          return { ...signed, body: signed.body.replace('homebound_reject', 'homebound_approve') };
        },
        { status: 401 },
      );
      await refused(
        (f, id) => {
          const signed = interaction(id, SLACK_ACTIONS.approve, 'U0APPROVER', nowSeconds(f));
          return { ...signed, headers: { ...signed.headers, 'x-slack-signature': '' } };
        },
        { status: 401 },
      );
    });

    it('a stale timestamp (301 s old), though correctly signed', async () => {
      await refused((f, id) => interaction(id, SLACK_ACTIONS.approve, 'U0APPROVER', nowSeconds(f) - 301), {
        status: 401,
      });
    });

    it('an allowed user clicking in another workspace (the app installed elsewhere), correctly signed', async () => {
      await refused(
        (f, id) =>
          interaction(id, SLACK_ACTIONS.approve, 'U0APPROVER', nowSeconds(f), SIGNING_SECRET, {
            team: 'T0OTHER',
            channel: 'C0APPROVALS',
          }),
        { status: 403 },
      );
    });

    it('an allowed user clicking in another channel of the workspace', async () => {
      await refused(
        (f, id) =>
          interaction(id, SLACK_ACTIONS.approve, 'U0APPROVER', nowSeconds(f), SIGNING_SECRET, {
            team: 'T0TEAM',
            channel: 'C0ELSEWHERE',
          }),
        { status: 403 },
      );
    });

    it('a user outside the allow-list', async () => {
      await refused((f, id) => interaction(id, SLACK_ACTIONS.approve, 'U0STRANGER', nowSeconds(f)), {
        status: 200,
        ephemeral: 'not on the approver list',
      });
    });

    it('a second click after the decision', async () => {
      await refused(
        (f, id) => interaction(id, SLACK_ACTIONS.reject, 'U0APPROVER', nowSeconds(f)),
        { status: 200, ephemeral: 'already decided' },
        async (f, id) => {
          await f.handler.handle(interaction(id, SLACK_ACTIONS.approve, 'U0APPROVER', nowSeconds(f)));
        },
      );
    });
  });

  it('verifies signatures exactly as Slack documents them (v0, 300 s either way)', () => {
    const body = 'payload=%7B%7D';
    const headers = (ts: number, secret = SIGNING_SECRET) => ({
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': slackSignature(secret, String(ts), body),
    });
    expect(slackSignature('s', '1', 'b')).toMatch(/^v0=[0-9a-f]{64}$/);
    expect(() => verifySlackRequest(SIGNING_SECRET, headers(1000), body, 1300)).not.toThrow();
    expect(() => verifySlackRequest(SIGNING_SECRET, headers(1000), body, 700)).not.toThrow();
    expect(() => verifySlackRequest(SIGNING_SECRET, headers(1000), body, 1301)).toThrowError(SlackRequestStaleError);
    expect(() => verifySlackRequest(SIGNING_SECRET, headers(1000, 'other'), body, 1000)).toThrowError(/does not match/);
  });
});
