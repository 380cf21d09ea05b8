import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { awsApprovals, resetAwsApprovals } from '../../core/adapters/aws/approval-deps.js';
import { ApprovalNotificationError } from '../../core/approvals/errors.js';
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
