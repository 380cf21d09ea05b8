import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { awsApprovals, awsDecisionVerifier, resetAwsApprovals } from '../../core/adapters/aws/approval-deps.js';
import { DynamoDbApprovalStore } from '../../core/adapters/aws/dynamodb-approval-store.js';
import { ApprovalNotificationError, UnverifiedApprovalError } from '../../core/approvals/errors.js';
import { InvalidInputError } from '../../core/errors.js';
import { fakeDynamoDb } from './fake-dynamodb.js';
import { approvalRequest } from './fixture.js';

const ENV = {
  HOMEBOUND_APPROVALS_TABLE: 'Approvals',
  HOMEBOUND_APPROVAL_AUDIT_TABLE: 'ApprovalAudit',
  HOMEBOUND_APPROVAL_LINK_KEY_SECRET: 'link-key',
  HOMEBOUND_SLACK_SECRET: 'slack',
  HOMEBOUND_SLACK_APPROVERS: 'U0APPROVER',
  HOMEBOUND_SLACK_CHANNEL: 'C0APPROVALS',
};
const clients = () => ({
  dynamodb: new DynamoDBClient({}),
  sfn: new SFNClient({}),
  ses: new SESv2Client({}),
  secrets: new SecretsManagerClient({}),
});
/** The Slack secret as the stack creates it, before anyone sets it. */
const UNSET_SLACK = JSON.stringify({ signingSecret: '', botToken: '', unused: 'x' });

afterEach(() => {
  resetAwsApprovals();
  mockClient(SecretsManagerClient).restore();
  mockClient(DynamoDBClient).restore();
});

function secrets(slack: string) {
  mockClient(SecretsManagerClient)
    .on(GetSecretValueCommand, { SecretId: 'link-key' })
    .resolves({ SecretString: 'k'.repeat(64) })
    .on(GetSecretValueCommand, { SecretId: 'slack' })
    .resolves({ SecretString: slack });
}

describe('approvals on AWS (deps)', () => {
  it('names a missing environment variable', async () => {
    const { HOMEBOUND_APPROVALS_TABLE: _, ...rest } = ENV;
    const error = await awsApprovals(new Logger({ logLevel: 'SILENT' }), rest, clients()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(String(error)).toContain('HOMEBOUND_APPROVALS_TABLE');
  });

  it('keeps the page working while the Slack secret is unset: Slack is off, and says so in the log', async () => {
    secrets(UNSET_SLACK);
    const logged: string[] = [];
    const logger = new Logger({ logLevel: 'ERROR', logRecordOrder: ['message'] });
    logger.error = (message: string) => void logged.push(message);

    const approvals = await awsApprovals(logger, ENV, clients());

    expect(approvals.page).toBeDefined();
    expect(approvals.slack).toBeUndefined();
    expect(logged).toEqual(['Slack approval is off: the Slack secret is not set']);
  });

  it('refuses to request an approval no channel can deliver, so the run rolls back instead of waiting for nobody', async () => {
    secrets(UNSET_SLACK);
    fakeDynamoDb();
    const approvals = await awsApprovals(new Logger({ logLevel: 'SILENT' }), ENV, clients());

    await expect(approvals.service.requestApproval(approvalRequest())).rejects.toBeInstanceOf(
      ApprovalNotificationError,
    );
  });
});

describe('VerifyDecision on AWS (deps)', () => {
  const VERIFIER_ENV = {
    HOMEBOUND_APPROVALS_TABLE: 'Approvals',
    HOMEBOUND_APPROVAL_AUDIT_TABLE: 'ApprovalAudit',
    HOMEBOUND_APPROVERS: 'ops@example.com',
  };

  it('needs no secret, and counts only the approvers of its environment (no operator decisions)', async () => {
    const secretsMock = mockClient(SecretsManagerClient);
    fakeDynamoDb();
    const dynamodb = new DynamoDBClient({});
    const store = new DynamoDbApprovalStore(dynamodb, { table: 'Approvals', auditTable: 'ApprovalAudit' });
    const approve = async (runId: string, approver: string) => {
      const approvalId = `${runId}-approval-id-xxxx`;
      await store.create({
        approvalId,
        runId,
        taskToken: 't',
        status: 'PENDING',
        createdAt: '2026-11-23T12:00:00.000Z',
        expiresAt: 1_800_000_000,
        remindAt: 1_799_999_100,
        summary: approvalRequest().summary,
        estimate: { finalPassSeconds: 1, downtimeSeconds: 1 },
        // The record lists everyone; the verifier must not take the record's word for it.
        approvers: { emails: ['ops@example.com', 'mallory@example.com'], slackUserIds: [] },
      });
      await store.decide(approvalId, runId, {
        outcome: 'approved',
        approver,
        channel: 'page',
        decidedAt: '2026-11-23T12:05:00.000Z',
        origin: {},
      });
    };
    await approve('run-ok', 'email:ops@example.com');
    await approve('run-mallory', 'email:mallory@example.com');
    await approve('run-operator', 'operator:root');
    const verifier = awsDecisionVerifier(VERIFIER_ENV, dynamodb);

    await expect(verifier.verify('run-ok')).resolves.toMatchObject({ approver: 'email:ops@example.com' });
    await expect(verifier.verify('run-mallory')).rejects.toBeInstanceOf(UnverifiedApprovalError);
    await expect(verifier.verify('run-operator')).rejects.toBeInstanceOf(UnverifiedApprovalError);
    expect(secretsMock.calls()).toHaveLength(0);
  });
});
