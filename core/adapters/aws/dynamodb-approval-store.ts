import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  paginateQuery,
  ScanCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type ApprovalStore,
  type DecideResult,
  type Decision,
  PendingApproval,
  type SlackMessageRef,
} from '../../approvals/record.js';

export interface DynamoDbApprovalStoreOptions {
  /** Partition key `approvalId` (S); TTL attribute `ttl`. */
  readonly table: string;
  /** Partition key `runId` (S), sort key `decisionKey` (S); no TTL: the audit is kept. */
  readonly auditTable: string;
}

type Item = Record<string, AttributeValue>;

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: number): AttributeValue => ({ N: String(value) });
const json = (value: unknown): AttributeValue => ({ S: JSON.stringify(value) });

function toItem(approval: PendingApproval): Item {
  return {
    approvalId: S(approval.approvalId),
    runId: S(approval.runId),
    taskToken: S(approval.taskToken),
    status: S(approval.status),
    createdAt: S(approval.createdAt),
    expiresAt: N(approval.expiresAt),
    // DynamoDB deletes the record some time after the deadline; links have expired by then anyway.
    ttl: N(approval.expiresAt),
    remindAt: N(approval.remindAt),
    summary: json(approval.summary),
    estimate: json(approval.estimate),
    approvers: json(approval.approvers),
    ...(approval.remindedAt ? { remindedAt: S(approval.remindedAt) } : {}),
    ...(approval.slackMessage ? { slackMessage: json(approval.slackMessage) } : {}),
    ...(approval.decision ? { decision: json(approval.decision) } : {}),
  };
}

function fromItem(item: Item): PendingApproval {
  const text = (name: string) => item[name]?.S;
  const parsed = (name: string) => {
    const value = text(name);
    return value === undefined ? undefined : (JSON.parse(value) as unknown);
  };
  return PendingApproval.parse({
    approvalId: text('approvalId'),
    runId: text('runId'),
    taskToken: text('taskToken'),
    status: text('status'),
    createdAt: text('createdAt'),
    expiresAt: Number(item.expiresAt?.N),
    remindAt: Number(item.remindAt?.N),
    summary: parsed('summary'),
    estimate: parsed('estimate'),
    approvers: parsed('approvers'),
    ...(text('remindedAt') ? { remindedAt: text('remindedAt') } : {}),
    ...(text('slackMessage') ? { slackMessage: parsed('slackMessage') } : {}),
    ...(text('decision') ? { decision: parsed('decision') } : {}),
  });
}

/** The audit record: no token, only who, what, when, from where, which run. */
function auditItem(approvalId: string, runId: string, decision: Decision): Item {
  const origin = Object.fromEntries(
    Object.entries(decision.origin).flatMap(([key, value]) => (value === undefined ? [] : [[key, S(value)]])),
  );
  return {
    runId: S(runId),
    decisionKey: S(`${decision.decidedAt}#${approvalId}`),
    approvalId: S(approvalId),
    outcome: S(decision.outcome),
    approver: S(decision.approver),
    ...(decision.approverName ? { approverName: S(decision.approverName) } : {}),
    channel: S(decision.channel),
    decidedAt: S(decision.decidedAt),
    origin: { M: origin },
  };
}

/**
 * The approval store on DynamoDB. The decision is one transaction: a conditional update PENDING → DECIDED of the
 * approval and the put of its audit record, so a decision is never without its audit and a second decision changes
 * neither table (the condition fails; DynamoDB returns the record as it is, to say who decided first).
 */
export class DynamoDbApprovalStore implements ApprovalStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly options: DynamoDbApprovalStoreOptions,
  ) {}

  async create(approval: PendingApproval): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.options.table,
        Item: toItem(approval),
        ConditionExpression: 'attribute_not_exists(approvalId)',
      }),
    );
  }

  async get(approvalId: string): Promise<PendingApproval | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.options.table, Key: { approvalId: S(approvalId) }, ConsistentRead: true }),
    );
    return Item ? fromItem(Item) : undefined;
  }

  async decide(approvalId: string, runId: string, decision: Decision): Promise<DecideResult> {
    try {
      await this.client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.options.table,
                Key: { approvalId: S(approvalId) },
                UpdateExpression: 'SET #status = :decided, decision = :decision',
                ConditionExpression: '#status = :pending',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: {
                  ':decided': S('DECIDED'),
                  ':pending': S('PENDING'),
                  ':decision': json(decision),
                },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            { Put: { TableName: this.options.auditTable, Item: auditItem(approvalId, runId, decision) } },
          ],
        }),
      );
    } catch (error) {
      const reason = error instanceof TransactionCanceledException ? error.CancellationReasons?.[0] : undefined;
      if (reason?.Code !== 'ConditionalCheckFailed') throw error;
      return { decided: false, current: reason.Item ? fromItem(reason.Item) : undefined };
    }
    const approval = await this.get(approvalId);
    if (!approval) throw new Error(`approval ${approvalId} vanished after its decision`);
    return { decided: true, approval };
  }

  async setSlackMessage(approvalId: string, message: SlackMessageRef): Promise<void> {
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.options.table,
        Key: { approvalId: S(approvalId) },
        UpdateExpression: 'SET slackMessage = :message',
        ConditionExpression: 'attribute_exists(approvalId)',
        ExpressionAttributeValues: { ':message': json(message) },
      }),
    );
  }

  async markReminded(approvalId: string, at: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.options.table,
          Key: { approvalId: S(approvalId) },
          UpdateExpression: 'SET remindedAt = :at',
          ConditionExpression: '#status = :pending AND attribute_not_exists(remindedAt)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':at': S(at), ':pending': S('PENDING') },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async listPending(): Promise<PendingApproval[]> {
    const pending: PendingApproval[] = [];
    let start: Item | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.options.table,
          FilterExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':pending': S('PENDING') },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) pending.push(fromItem(item));
      start = page.LastEvaluatedKey;
    } while (start);
    return pending;
  }

  async decidedApprovalsOf(runId: string): Promise<PendingApproval[]> {
    // The approvals table is keyed by the opaque id only; the audit table, keyed by run, says which ids were decided.
    const approvalIds = new Set<string>();
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.options.auditTable,
        KeyConditionExpression: 'runId = :runId',
        ExpressionAttributeValues: { ':runId': S(runId) },
        ProjectionExpression: 'approvalId',
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) if (item.approvalId?.S) approvalIds.add(item.approvalId.S);
    }
    const approvals = await Promise.all([...approvalIds].map((approvalId) => this.get(approvalId)));
    return approvals.filter((approval) => approval !== undefined);
  }
}
