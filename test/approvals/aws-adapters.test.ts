import {
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import {
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  SFNServiceException,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoDbApprovalStore } from '../../core/adapters/aws/dynamodb-approval-store.js';
import { SesEmailSender } from '../../core/adapters/aws/ses-email-sender.js';
import { SfnTaskResponder } from '../../core/adapters/aws/sfn-task-responder.js';
import { ApprovalNoLongerWaitingError } from '../../core/approvals/errors.js';
import type { Decision, PendingApproval } from '../../core/approvals/record.js';
import { fakeDynamoDb } from './fake-dynamodb.js';
import { approvalRequest, TOKEN } from './fixture.js';

const approval: PendingApproval = {
  approvalId: 'Zm9vYmFyYmF6cXV4cXV1eA',
  runId: 'run-1',
  taskToken: TOKEN,
  status: 'PENDING',
  createdAt: '2026-11-23T12:00:00.000Z',
  expiresAt: 1_795_000_000,
  remindAt: 1_794_999_100,
  summary: approvalRequest().summary,
  estimate: { finalPassSeconds: 42, downtimeSeconds: 222 },
  approvers: { emails: ['ops@example.com'], slackUserIds: ['U0APPROVER'] },
};
const decision: Decision = {
  outcome: 'approved',
  approver: 'email:ops@example.com',
  channel: 'page',
  decidedAt: '2026-11-23T12:05:00.000Z',
  origin: { sourceIp: '198.51.100.7', userAgent: 'Mozilla/5.0' },
  nonce: 'n.once',
};
const options = { table: 'Approvals', auditTable: 'ApprovalAudit' };

afterEach(() => {
  mockClient(DynamoDBClient).restore();
});

describe('DynamoDB approval store', () => {
  it('creates a record only if new, with the TTL attribute at the deadline', async () => {
    const { mock } = fakeDynamoDb();
    const store = new DynamoDbApprovalStore(new DynamoDBClient({}), options);

    await store.create(approval);

    const put = mock.commandCalls(PutItemCommand)[0]?.args[0].input;
    expect(put).toMatchObject({
      TableName: 'Approvals',
      ConditionExpression: 'attribute_not_exists(approvalId)',
      Item: { approvalId: { S: approval.approvalId }, ttl: { N: '1795000000' }, status: { S: 'PENDING' } },
    });
    await expect(store.get(approval.approvalId)).resolves.toEqual(approval);
    await expect(store.create(approval)).rejects.toThrow('conditional request failed');
  });

  it('decides in one transaction: conditional PENDING→DECIDED and an audit record without the token', async () => {
    const { mock, table } = fakeDynamoDb();
    const store = new DynamoDbApprovalStore(new DynamoDBClient({}), options);
    await store.create(approval);

    const result = await store.decide(approval.approvalId, 'run-1', decision);

    expect(result).toEqual({ decided: true, approval: { ...approval, status: 'DECIDED', decision } });
    const [update, put] = mock.commandCalls(TransactWriteItemsCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(update?.Update).toMatchObject({
      ConditionExpression: '#status = :pending',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(put?.Put?.TableName).toBe('ApprovalAudit');
    expect(put?.Put?.Item).toMatchObject({
      runId: { S: 'run-1' },
      decisionKey: { S: `2026-11-23T12:05:00.000Z#${approval.approvalId}` },
      approver: { S: 'email:ops@example.com' },
      outcome: { S: 'approved' },
      origin: { M: { sourceIp: { S: '198.51.100.7' }, userAgent: { S: 'Mozilla/5.0' } } },
    });
    expect(JSON.stringify(put)).not.toContain(TOKEN);
    expect(table('ApprovalAudit').size).toBe(1);
  });

  it('maps the failed condition to "not decided" with the record as it stands, writing no second audit', async () => {
    const { table } = fakeDynamoDb();
    const store = new DynamoDbApprovalStore(new DynamoDBClient({}), options);
    await store.create(approval);
    await store.decide(approval.approvalId, 'run-1', decision);

    const second = await store.decide(approval.approvalId, 'run-1', {
      ...decision,
      outcome: 'rejected',
      nonce: 'other',
    });

    expect(second).toEqual({ decided: false, current: { ...approval, status: 'DECIDED', decision } });
    expect(table('ApprovalAudit').size).toBe(1);
  });

  it('passes on transaction failures that are not the condition', async () => {
    const mock = mockClient(DynamoDBClient);
    mock.on(TransactWriteItemsCommand).rejects(
      new TransactionCanceledException({
        message: 'throttled',
        $metadata: {},
        CancellationReasons: [{ Code: 'ThrottlingError' }, { Code: 'None' }],
      }),
    );
    const store = new DynamoDbApprovalStore(new DynamoDBClient({}), options);
    await expect(store.decide('x'.repeat(22), 'run-1', decision)).rejects.toBeInstanceOf(TransactionCanceledException);
  });

  it('marks the reminder once: ConditionalCheckFailedException means already reminded', async () => {
    const { mock } = fakeDynamoDb();
    const store = new DynamoDbApprovalStore(new DynamoDBClient({}), options);
    await store.create(approval);

    expect(await store.markReminded(approval.approvalId, '2026-11-23T12:45:00.000Z')).toBe(true);
    expect(await store.markReminded(approval.approvalId, '2026-11-23T12:46:00.000Z')).toBe(false);
    expect(mock.commandCalls(UpdateItemCommand)[0]?.args[0].input.ConditionExpression).toBe(
      '#status = :pending AND attribute_not_exists(remindedAt)',
    );
    expect((await store.listPending()).map((a) => a.remindedAt)).toEqual(['2026-11-23T12:45:00.000Z']);
  });

  it("finds a run's decided approvals through its audit records, read consistently, and no pending one", async () => {
    const { mock } = fakeDynamoDb();
    const store = new DynamoDbApprovalStore(new DynamoDBClient({}), options);
    const other = { ...approval, approvalId: 'b'.repeat(22), runId: 'run-2' };
    await store.create(approval);
    await store.create(other);
    expect(await store.decidedApprovalsOf('run-1')).toEqual([]);

    await store.decide(approval.approvalId, 'run-1', decision);
    await store.decide(other.approvalId, 'run-2', decision);

    expect(await store.decidedApprovalsOf('run-1')).toEqual([{ ...approval, status: 'DECIDED', decision }]);
    expect(mock.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      TableName: 'ApprovalAudit',
      KeyConditionExpression: 'runId = :runId',
      ConsistentRead: true,
    });
    for (const get of mock.commandCalls(GetItemCommand)) expect(get.args[0].input.ConsistentRead).toBe(true);
  });
});

describe('SFN task responder', () => {
  it('sends SendTaskSuccess with the output as JSON and SendTaskFailure with error and cause', async () => {
    const sfn = mockClient(SFNClient);
    sfn.on(SendTaskSuccessCommand).resolves({}).on(SendTaskFailureCommand).resolves({});
    const responder = new SfnTaskResponder(new SFNClient({}));

    await responder.sendTaskSuccess(TOKEN, { approved: true });
    await responder.sendTaskFailure(TOKEN, 'CutoverRejectedError', 'no');

    expect(sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input).toEqual({
      taskToken: TOKEN,
      output: '{"approved":true}',
    });
    expect(sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input).toEqual({
      taskToken: TOKEN,
      error: 'CutoverRejectedError',
      cause: 'no',
    });
    sfn.restore();
  });

  it('maps TaskTimedOut to ApprovalNoLongerWaitingError, naming the error but not the token', async () => {
    const sfn = mockClient(SFNClient);
    sfn.on(SendTaskSuccessCommand).rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }));
    const responder = new SfnTaskResponder(new SFNClient({}));

    const error = await responder.sendTaskSuccess(TOKEN, {}).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ApprovalNoLongerWaitingError);
    expect(String(error)).toContain('TaskTimedOut');
    expect(String(error)).not.toContain(TOKEN);
    sfn
      .on(SendTaskSuccessCommand)
      .rejects(new SFNServiceException({ name: 'ServiceUnavailable', $fault: 'server', message: '', $metadata: {} }));
    await expect(responder.sendTaskSuccess(TOKEN, {})).rejects.toBeInstanceOf(SFNServiceException);
    sfn.restore();
  });
});

describe('SES email sender', () => {
  it('sends one SESv2 SendEmail per approver from the configured identity, text and HTML', async () => {
    const ses = mockClient(SESv2Client);
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
    await new SesEmailSender(new SESv2Client({}), 'homebound@example.com').send({
      to: 'ops@example.com',
      subject: 'S',
      text: 'T',
      html: '<p>H</p>',
    });
    expect(ses.commandCalls(SendEmailCommand)[0]?.args[0].input).toEqual({
      FromEmailAddress: 'homebound@example.com',
      Destination: { ToAddresses: ['ops@example.com'] },
      Content: {
        Simple: {
          Subject: { Data: 'S', Charset: 'UTF-8' },
          Body: { Text: { Data: 'T', Charset: 'UTF-8' }, Html: { Data: '<p>H</p>', Charset: 'UTF-8' } },
        },
      },
    });
    ses.restore();
  });
});
