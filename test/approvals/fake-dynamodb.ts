import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';

type Item = Record<string, AttributeValue>;
interface Update {
  TableName?: string | undefined;
  Key?: Item | undefined;
  UpdateExpression?: string | undefined;
  ConditionExpression?: string | undefined;
  ExpressionAttributeNames?: Record<string, string> | undefined;
  ExpressionAttributeValues?: Item | undefined;
}

/**
 * DynamoDB for the approval store's tests, over aws-sdk-client-mock (the local cloud serves no DynamoDB): tables in
 * memory, keyed by their first key attribute plus `decisionKey`, and the few condition and update expressions the
 * store uses, evaluated as DynamoDB would. It fails loudly on any expression it does not know.
 */
export function fakeDynamoDb() {
  const tables = new Map<string, Map<string, Item>>();
  const table = (name = '') => {
    const rows = tables.get(name) ?? new Map<string, Item>();
    tables.set(name, rows);
    return rows;
  };
  const keyOf = (key: Item) => JSON.stringify(key.approvalId ?? [key.runId, key.decisionKey]);
  const holds = (item: Item | undefined, update: Update): boolean => {
    const values = update.ExpressionAttributeValues ?? {};
    switch (update.ConditionExpression) {
      case undefined:
        return true;
      case 'attribute_not_exists(approvalId)':
        return item === undefined;
      case 'attribute_exists(approvalId)':
        return item !== undefined;
      case '#status = :pending':
        return item?.status?.S === values[':pending']?.S;
      case '#status = :pending AND attribute_not_exists(remindedAt)':
        return item?.status?.S === values[':pending']?.S && item?.remindedAt === undefined;
      default:
        throw new Error(`fake DynamoDB: unknown condition ${update.ConditionExpression}`);
    }
  };
  const apply = (item: Item, update: Update): Item => {
    const match = /^SET (.+)$/.exec(update.UpdateExpression ?? '');
    if (!match?.[1]) throw new Error(`fake DynamoDB: unknown update ${update.UpdateExpression}`);
    const next = { ...item };
    for (const assignment of match[1].split(',')) {
      const [name = '', value = ''] = assignment.split('=').map((part) => part.trim());
      const attribute = update.ExpressionAttributeNames?.[name] ?? name;
      const given = update.ExpressionAttributeValues?.[value];
      if (!given) throw new Error(`fake DynamoDB: no value ${value}`);
      next[attribute] = given;
    }
    return next;
  };
  const mock = mockClient(DynamoDBClient);
  mock.on(PutItemCommand).callsFake((input: { TableName: string; Item: Item; ConditionExpression?: string }) => {
    const rows = table(input.TableName);
    const key = keyOf(input.Item);
    if (!holds(rows.get(key), input)) {
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    }
    rows.set(key, input.Item);
    return {};
  });
  mock.on(GetItemCommand).callsFake((input: { TableName: string; Key: Item }) => ({
    Item: table(input.TableName).get(keyOf(input.Key)),
  }));
  mock.on(UpdateItemCommand).callsFake((input: Update) => {
    const rows = table(input.TableName);
    const key = keyOf(input.Key ?? {});
    const item = rows.get(key);
    if (!holds(item, input) || !item) {
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    }
    rows.set(key, apply(item, input));
    return {};
  });
  mock
    .on(TransactWriteItemsCommand)
    .callsFake((input: { TransactItems: { Update?: Update; Put?: { TableName: string; Item: Item } }[] }) => {
      const reasons = input.TransactItems.map((step) => {
        if (!step.Update) return { Code: 'None' };
        const item = table(step.Update.TableName).get(keyOf(step.Update.Key ?? {}));
        return holds(item, step.Update) && item ? { Code: 'None' } : { Code: 'ConditionalCheckFailed', Item: item };
      });
      if (reasons.some((reason) => reason.Code !== 'None')) {
        throw new TransactionCanceledException({
          message: 'Transaction cancelled',
          $metadata: {},
          CancellationReasons: reasons,
        });
      }
      for (const step of input.TransactItems) {
        if (step.Update) {
          const rows = table(step.Update.TableName);
          const key = keyOf(step.Update.Key ?? {});
          rows.set(key, apply(rows.get(key) ?? {}, step.Update));
        }
        if (step.Put) table(step.Put.TableName).set(keyOf(step.Put.Item), step.Put.Item);
      }
      return {};
    });
  mock.on(ScanCommand).callsFake((input: { TableName: string; ExpressionAttributeValues?: Item }) => ({
    Items: [...table(input.TableName).values()].filter(
      (item) => item.status?.S === input.ExpressionAttributeValues?.[':pending']?.S,
    ),
  }));
  mock
    .on(QueryCommand)
    .callsFake((input: { TableName: string; KeyConditionExpression?: string; ExpressionAttributeValues?: Item }) => {
      if (input.KeyConditionExpression !== 'runId = :runId') {
        throw new Error(`fake DynamoDB: unknown key condition ${input.KeyConditionExpression}`);
      }
      const runId = input.ExpressionAttributeValues?.[':runId']?.S;
      return { Items: [...table(input.TableName).values()].filter((item) => item.runId?.S === runId) };
    });
  return { mock, tables, table };
}
