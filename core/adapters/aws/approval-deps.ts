import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { ApprovalDecider } from '../../approvals/decide.js';
import { emailChannel } from '../../approvals/email-channel.js';
import { type ApprovalChannel, MultiChannelNotifier } from '../../approvals/notifier.js';
import { ApprovalPageHandler } from '../../approvals/page.js';
import { ApprovalService } from '../../approvals/request.js';
import { LinkSigner } from '../../approvals/signed-link.js';
import { SlackApi } from '../../approvals/slack-api.js';
import { slackChannel } from '../../approvals/slack-channel.js';
import { SlackInteractionHandler } from '../../approvals/slack-interaction.js';
import { verifyRecordedDecision } from '../../approvals/verify.js';
import { parseEnvironment } from '../../environment.js';
import { InvalidInputError } from '../../errors.js';
import { AWS_PROFILE } from '../../estimate/profile.js';
import type { VerifiedDecision } from '../../failback/run-state.js';
import { DynamoDbApprovalStore } from './dynamodb-approval-store.js';
import { SesEmailSender } from './ses-email-sender.js';
import { SfnTaskResponder } from './sfn-task-responder.js';

const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== ''),
);

/** The environment of the approval functions (and RequestApproval) from the stack; validated once per process. */
export const ApprovalEnvironment = z.object({
  HOMEBOUND_APPROVALS_TABLE: z.string().min(3),
  HOMEBOUND_APPROVAL_AUDIT_TABLE: z.string().min(3),
  /**
   * Secrets Manager id of the HMAC key that signs links and nonces (a plain string, ≥ 32 characters). Only the
   * functions that sign or check links have it (not the Slack endpoint); without it there is no page and no email.
   */
  HOMEBOUND_APPROVAL_LINK_KEY_SECRET: z.string().min(1).optional(),
  /** Secrets Manager id of `{"signingSecret": …, "botToken": …, "teamId": "T…"}` of the Slack app. */
  HOMEBOUND_SLACK_SECRET: z.string().min(1).optional(),
  /** Where approval links point (the page's function URL); needed by the functions that send links. */
  HOMEBOUND_APPROVAL_PAGE_URL: z.url().optional(),
  HOMEBOUND_APPROVERS: commaList.default([]),
  HOMEBOUND_SLACK_APPROVERS: commaList.default([]),
  HOMEBOUND_SLACK_CHANNEL: z.string().min(1).optional(),
  /** The verified SES identity approval emails come from. */
  HOMEBOUND_APPROVAL_SENDER: z.email().optional(),
  HOMEBOUND_APPROVAL_REMINDER_MINUTES: z.coerce.number().int().positive().default(15),
  /** Slack's Web API base (tests point it at a local server). @default https://slack.com/api/ */
  HOMEBOUND_SLACK_API_URL: z.url().optional(),
});
export type ApprovalEnvironment = z.infer<typeof ApprovalEnvironment>;

/** VerifyDecision's part of it: the tables and the allow-list; no secret, no page. */
export const DecisionVerifierEnvironment = ApprovalEnvironment.pick({
  HOMEBOUND_APPROVALS_TABLE: true,
  HOMEBOUND_APPROVAL_AUDIT_TABLE: true,
  HOMEBOUND_APPROVERS: true,
  HOMEBOUND_SLACK_APPROVERS: true,
});
export type DecisionVerifierEnvironment = z.infer<typeof DecisionVerifierEnvironment>;

let verifier: { verify(runId: string): Promise<VerifiedDecision> } | undefined;

/**
 * VerifyDecision on AWS: reads the run's decision from DynamoDB and checks it against the deployment's approvers
 * (from the environment, not from the record). Built once per process.
 * @throws InvalidInputError naming the first missing or malformed environment variable
 */
export function awsDecisionVerifier(env: NodeJS.ProcessEnv = process.env, dynamodb?: DynamoDBClient) {
  if (verifier && !dynamodb) return verifier;
  const config = parseEnvironment(DecisionVerifierEnvironment, env);
  const store = new DynamoDbApprovalStore(dynamodb ?? new DynamoDBClient({}), {
    table: config.HOMEBOUND_APPROVALS_TABLE,
    auditTable: config.HOMEBOUND_APPROVAL_AUDIT_TABLE,
  });
  const allowList = {
    approvers: { emails: config.HOMEBOUND_APPROVERS, slackUserIds: config.HOMEBOUND_SLACK_APPROVERS },
    // No terminal on AWS: an `operator:` decision in the table was not taken through a channel.
    operators: false,
  };
  const built = { verify: (runId: string) => verifyRecordedDecision(store, runId, allowList) };
  if (!dynamodb) verifier = built;
  return built;
}

/** The Slack app's settings: its signing secret and bot token, and the workspace whose clicks count. */
const SlackSecret = z.object({
  signingSecret: z.string().min(1),
  botToken: z.string().min(1),
  teamId: z.string().regex(/^[TE][A-Z0-9]+$/, 'a Slack workspace id (T…)'),
});

/** Everything the approval functions use, built once per process. */
export interface AwsApprovals {
  readonly service: ApprovalService;
  /** Absent without the link key (the Slack endpoint's function). */
  readonly page: ApprovalPageHandler | undefined;
  /** Absent when no Slack secret is configured. */
  readonly slack: SlackInteractionHandler | undefined;
  readonly store: DynamoDbApprovalStore;
  readonly notifier: MultiChannelNotifier;
}

let cached: Promise<AwsApprovals> | undefined;

/** Forgets the cached deps (tests that build them with other environments or clients). */
export function resetAwsApprovals(): void {
  cached = undefined;
}

/** The SDK clients the approvals use; tests hand in mocked ones. */
export interface ApprovalClients {
  readonly dynamodb: DynamoDBClient;
  readonly sfn: SFNClient;
  readonly ses: SESv2Client;
  readonly secrets: SecretsManagerClient;
}

/**
 * The approvals on AWS: the DynamoDB store, SFN task responses, SES email and Slack, and the keys from Secrets
 * Manager (read once per process; the values never reach a log). Built on first use and shared by every invocation.
 * @throws InvalidInputError naming the first missing or malformed environment variable or secret field
 */
export function awsApprovals(
  logger: Logger = new Logger({ serviceName: 'homebound' }),
  env: NodeJS.ProcessEnv = process.env,
  clients?: ApprovalClients,
): Promise<AwsApprovals> {
  cached ??= buildApprovals(logger, env, clients).catch((error: unknown) => {
    cached = undefined; // a later invocation tries again (e.g. after the Slack secret was filled in)
    throw error;
  });
  return cached;
}

async function buildApprovals(logger: Logger, env: NodeJS.ProcessEnv, given?: ApprovalClients): Promise<AwsApprovals> {
  const config = parseEnvironment(ApprovalEnvironment, env);
  const clients = given ?? {
    dynamodb: new DynamoDBClient({}),
    sfn: new SFNClient({}),
    ses: new SESv2Client({}),
    secrets: new SecretsManagerClient({}),
  };
  const secret = async (id: string) => {
    const { SecretString } = await clients.secrets.send(new GetSecretValueCommand({ SecretId: id }));
    if (!SecretString) throw new InvalidInputError(`secret ${id} has no string value`);
    return SecretString;
  };
  const linkKey = config.HOMEBOUND_APPROVAL_LINK_KEY_SECRET;
  const signer = linkKey === undefined ? undefined : new LinkSigner(await secret(linkKey));
  let slackSecret: z.infer<typeof SlackSecret> | undefined;
  if (config.HOMEBOUND_SLACK_SECRET) {
    const value = SlackSecret.safeParse(safeJson(await secret(config.HOMEBOUND_SLACK_SECRET)));
    if (value.success) slackSecret = value.data;
    // Email approval must not depend on Slack being set up: without the secret, Slack is off and says why.
    else if (config.HOMEBOUND_SLACK_APPROVERS.length > 0) {
      logger.error('Slack approval is off: the Slack secret is not set', {
        secret: config.HOMEBOUND_SLACK_SECRET,
        expected: '{"signingSecret": "…", "botToken": "xoxb-…", "teamId": "T…"} of the Slack app',
      });
    }
  }
  const slackApi = slackSecret && new SlackApi(slackSecret.botToken, config.HOMEBOUND_SLACK_API_URL);
  const store = new DynamoDbApprovalStore(clients.dynamodb, {
    table: config.HOMEBOUND_APPROVALS_TABLE,
    auditTable: config.HOMEBOUND_APPROVAL_AUDIT_TABLE,
  });
  const channels: ApprovalChannel[] = [];
  if (
    signer &&
    config.HOMEBOUND_APPROVERS.length > 0 &&
    config.HOMEBOUND_APPROVAL_SENDER &&
    config.HOMEBOUND_APPROVAL_PAGE_URL
  ) {
    const sender = new SesEmailSender(clients.ses, config.HOMEBOUND_APPROVAL_SENDER);
    channels.push(emailChannel(sender, signer, config.HOMEBOUND_APPROVAL_PAGE_URL));
  }
  if (slackApi && config.HOMEBOUND_SLACK_CHANNEL) channels.push(slackChannel(slackApi, config.HOMEBOUND_SLACK_CHANNEL));
  const notifier = new MultiChannelNotifier(channels, (channel, step, error) =>
    logger.error('approval notification failed', { channel, step, error: String(error) }),
  );
  const now = () => new Date();
  const decider = new ApprovalDecider({ store, tasks: new SfnTaskResponder(clients.sfn), now, logger });
  return {
    store,
    notifier,
    service: new ApprovalService({
      store,
      notifier,
      approvers: { emails: config.HOMEBOUND_APPROVERS, slackUserIds: config.HOMEBOUND_SLACK_APPROVERS },
      reminderLeadSeconds: config.HOMEBOUND_APPROVAL_REMINDER_MINUTES * 60,
      profile: AWS_PROFILE,
      now,
      logger,
    }),
    page: signer && new ApprovalPageHandler({ signer, store, decider, now, logger }),
    slack:
      slackSecret && slackApi
        ? new SlackInteractionHandler({
            signingSecret: slackSecret.signingSecret,
            workspace: { teamId: slackSecret.teamId, channelId: config.HOMEBOUND_SLACK_CHANNEL },
            slack: slackApi,
            decider,
            notifier,
            now,
            logger,
          })
        : undefined,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
