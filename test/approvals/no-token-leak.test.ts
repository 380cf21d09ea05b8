import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { awsApprovals, resetAwsApprovals } from '../../core/adapters/aws/approval-deps.js';
import { SLACK_ACTIONS } from '../../core/approvals/slack-channel.js';
import { slackSignature } from '../../core/approvals/slack-signature.js';
import { handler as approvalPage } from '../../functions/approval-page.js';
import { handler as approvalReminders } from '../../functions/approval-reminders.js';
import { handler as requestApproval } from '../../functions/request-approval.js';
import { handler as slackInteraction } from '../../functions/slack-interaction.js';
import { handler as verifyDecision } from '../../functions/verify-decision.js';
import { fakeDynamoDb } from './fake-dynamodb.js';
import { approvalRequest, nonceOf } from './fixture.js';
import { LocalSlackApi } from './slack-server.js';

const SIGNING_SECRET = 'slack-signing-secret-for-the-test';
const TOKENS = ['page', 'slack', 'reminded'].map((name) => `AAAAKgAAAAIAAAAA-${name}-${'t'.repeat(40)}-TASKTOKEN`);

let slackApi: LocalSlackApi;
const captured: string[] = [];
const responses: string[] = [];

function context(name: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${name}`,
    memoryLimitInMB: '512',
    awsRequestId: `req-${name}`,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'test',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A function URL event as Lambda delivers it. */
function urlEvent(method: string, url: URL, headers: Record<string, string> = {}, body = ''): LambdaFunctionURLEvent {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers: { 'user-agent': 'Mozilla/5.0 (test)', ...headers },
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abc',
      domainName: url.host,
      domainPrefix: 'abc',
      http: { method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'Mozilla/5.0' },
      requestId: 'r',
      routeKey: '$default',
      stage: '$default',
      time: '23/Nov/2026:12:00:00 +0000',
      timeEpoch: Date.now(),
    },
    body: body ? Buffer.from(body).toString('base64') : undefined,
    isBase64Encoded: Boolean(body),
  } as LambdaFunctionURLEvent;
}

/** Invokes a handler as Lambda would and keeps what it answered. */
async function call(
  fn: (event: never, context: Context) => Promise<unknown>,
  event: unknown,
  name: string,
): Promise<{ statusCode?: number; body?: string }> {
  const result = await fn(event as never, context(name));
  responses.push(JSON.stringify(result));
  return (typeof result === 'object' && result !== null ? result : {}) as { statusCode?: number; body?: string };
}

const dynamodb = fakeDynamoDb();
const ses = mockClient(SESv2Client);
const sfn = mockClient(SFNClient);
const secrets = mockClient(SecretsManagerClient);

beforeAll(async () => {
  slackApi = await LocalSlackApi.start();
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: string | Uint8Array) => boolean;
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      captured.push(String(chunk));
      return write(chunk);
    });
  }
  ses.on(SendEmailCommand).resolves({ MessageId: 'm' });
  sfn.on(SendTaskSuccessCommand).resolves({}).on(SendTaskFailureCommand).resolves({});
  secrets
    .on(GetSecretValueCommand, { SecretId: 'link-key' })
    .resolves({ SecretString: 'a-link-key-of-at-least-32-characters-0123' })
    .on(GetSecretValueCommand, { SecretId: 'slack' })
    .resolves({
      SecretString: JSON.stringify({ signingSecret: SIGNING_SECRET, botToken: 'xoxb-1', teamId: 'T0TEAM' }),
    });
  const env = {
    HOMEBOUND_STAGING_BUCKET: 'staging-bucket',
    HOMEBOUND_AVAILABILITY_ZONE: 'eu-west-1a',
    HOMEBOUND_SUBNET_ID: 'subnet-0abc',
    HOMEBOUND_IMAGE_ID: 'ami-0abc',
    HOMEBOUND_INSTANCE_TYPE: 'm7g.large',
    HOMEBOUND_TAKEOVER_TAG: 'homebound:takeover=true',
    HOMEBOUND_STACK_TAG: 'Homebound',
    HOMEBOUND_GATEWAY_SECURITY_GROUP_ID: 'sg-0abc',
    HOMEBOUND_INSTANCE_ARN_PREFIX: 'arn:aws:ec2:eu-west-1:123456789012:instance/',
    HOMEBOUND_GATEWAY_ARTIFACT_URI: 's3://cdk-assets/0123abcd.mjs',
    HOMEBOUND_GATEWAY_ARTIFACT_SHA256: '0'.repeat(64),
    HOMEBOUND_APPROVALS_TABLE: 'Approvals',
    HOMEBOUND_APPROVAL_AUDIT_TABLE: 'ApprovalAudit',
    HOMEBOUND_APPROVAL_LINK_KEY_SECRET: 'link-key',
    HOMEBOUND_SLACK_SECRET: 'slack',
    HOMEBOUND_APPROVAL_PAGE_URL: 'https://page.lambda-url.eu-west-1.on.aws/',
    HOMEBOUND_APPROVERS: 'ops@example.com,lead@example.com',
    HOMEBOUND_SLACK_APPROVERS: 'U0APPROVER',
    HOMEBOUND_SLACK_CHANNEL: 'C0APPROVALS',
    HOMEBOUND_APPROVAL_SENDER: 'homebound@example.com',
    HOMEBOUND_SLACK_API_URL: slackApi.url,
    AWS_REGION: 'eu-west-1',
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  resetAwsApprovals();
  // Built once per process, as on Lambda: with the mocked clients and a logger that logs everything.
  await awsApprovals(new Logger({ serviceName: 'homebound-approvals', logLevel: 'DEBUG' }), process.env, {
    dynamodb: new DynamoDBClient({}),
    sfn: new SFNClient({}),
    ses: new SESv2Client({}),
    secrets: new SecretsManagerClient({}),
  });
});

afterAll(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  resetAwsApprovals();
  dynamodb.mock.restore();
  ses.restore();
  sfn.restore();
  secrets.restore();
  await slackApi.stop();
});

const linksIn = (text: string) => [...text.matchAll(/https:\/\/page\.lambda-url[^\s"<\\]+/g)].map((m) => m[0]);

describe('the task token stays server-side', () => {
  it('is in no email, Slack message, URL, response or log line through request, page, Slack and reminders', async () => {
    const [pageToken = '', slackToken = '', remindedToken = ''] = TOKENS;
    // 1. Three runs ask for approval through the RequestApproval Lambda.
    await call(requestApproval, approvalRequest({ runId: 'run-page', taskToken: pageToken }), 'RequestApproval');
    await call(requestApproval, approvalRequest({ runId: 'run-slack', taskToken: slackToken }), 'RequestApproval');
    await call(
      requestApproval,
      approvalRequest({ runId: 'run-reminded', taskToken: remindedToken, timeoutSeconds: 600 }),
      'RequestApproval',
    );
    const emails = ses.commandCalls(SendEmailCommand).map((c) => JSON.stringify(c.args[0].input));
    expect(emails).toHaveLength(6); // 3 runs × 2 approvers, one link each

    // 2. The page: GET (as a scanner would), HEAD, then the approver's POST.
    const link = new URL(linksIn(emails[0] ?? '').at(0) ?? '');
    const shown = await call(approvalPage, urlEvent('GET', link), 'ApprovalPage');
    await call(approvalPage, urlEvent('HEAD', link), 'ApprovalPage');
    const form = new URLSearchParams({ decision: 'approve', nonce: nonceOf(shown.body ?? '') }).toString();
    const decided = await call(
      approvalPage,
      urlEvent('POST', link, { 'content-type': 'application/x-www-form-urlencoded' }, form),
      'ApprovalPage',
    );
    expect(decided.body).toContain('Cutover approved');
    expect(sfn.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input.taskToken)).toEqual([pageToken]);

    // 3. Slack: the allowed user clicks Approve on the second run's message.
    const slackApproval = [...dynamodb.table('Approvals').values()].find((item) => item.runId?.S === 'run-slack');
    const payload = JSON.stringify({
      type: 'block_actions',
      user: { id: 'U0APPROVER', username: 'ada' },
      team: { id: 'T0TEAM' },
      channel: { id: 'C0APPROVALS' },
      actions: [{ action_id: SLACK_ACTIONS.approve, value: slackApproval?.approvalId?.S }],
    });
    const body = new URLSearchParams({ payload }).toString();
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers = {
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': slackSignature(SIGNING_SECRET, timestamp, body),
      'content-type': 'application/x-www-form-urlencoded',
    };
    const ack = await call(
      slackInteraction,
      urlEvent('POST', new URL('https://slack.lambda-url.eu-west-1.on.aws/'), headers, body),
      'SlackInteraction',
    );
    expect(ack.statusCode).toBe(200);
    expect(sfn.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input.taskToken)).toEqual([
      pageToken,
      slackToken,
    ]);

    // 4. Reminders: the third run is reminded just before its deadline, then closed as timed out after it.
    const reminded = [...dynamodb.table('Approvals').values()].find((item) => item.runId?.S === 'run-reminded');
    const deadline = Number(reminded?.expiresAt?.N) * 1000;
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(deadline - 500);
      await expect(call(approvalReminders, {}, 'ApprovalReminders')).resolves.toEqual({ reminded: 1, timedOut: 0 });
      vi.setSystemTime(deadline + 1000);
      await expect(call(approvalReminders, {}, 'ApprovalReminders')).resolves.toEqual({ reminded: 0, timedOut: 1 });
    } finally {
      vi.useRealTimers();
    }
    const allEmails = ses.commandCalls(SendEmailCommand).map((c) => JSON.stringify(c.args[0].input));
    expect(allEmails.filter((email) => email.includes('Reminder: '))).toHaveLength(2);

    // 5. VerifyDecision, through its Lambda: the page and Slack approvals prove themselves, the timed-out one does not.
    await expect(call(verifyDecision, { runId: 'run-page' }, 'VerifyDecision')).resolves.toMatchObject({
      approved: true,
      approver: 'email:ops@example.com',
      channel: 'page',
    });
    await expect(call(verifyDecision, { runId: 'run-slack' }, 'VerifyDecision')).resolves.toMatchObject({
      approver: 'slack:U0APPROVER',
    });
    await expect(call(verifyDecision, { runId: 'run-reminded' }, 'VerifyDecision')).rejects.toMatchObject({
      name: 'UnverifiedApprovalError',
      message: expect.stringContaining('"timed-out"'),
    });

    // Everything that left the functions, and everything they logged.
    const slackBodies = slackApi.calls.map((c) => JSON.stringify(c.body));
    expect(slackBodies.length).toBeGreaterThanOrEqual(6); // 3 requests, 1 update, 1 reminder, 1 timed-out update
    const urls = allEmails.flatMap(linksIn);
    expect(urls.length).toBeGreaterThanOrEqual(8);
    const logs = captured.join('');
    expect(logs).toContain('cutover approval requested');
    expect(logs).toContain('cutover decided');
    expect(logs).toContain('cutover approval reminder sent');
    for (const token of TOKENS) {
      for (const [what, texts] of Object.entries({ emails: allEmails, slackBodies, urls, responses, logs: [logs] })) {
        for (const text of texts) {
          expect(text.includes(token), `${what} carries a task token`).toBe(false);
          expect(text.includes(encodeURIComponent(token)), `${what} carries a task token`).toBe(false);
        }
      }
    }
  });
});
