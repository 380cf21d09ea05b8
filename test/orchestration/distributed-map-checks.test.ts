import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import {
  DistributedMapNotSupportedError,
  InvalidDefinitionError,
  LocalStateMachine,
  MissingS3ClientError,
} from '../../core/orchestration/local-runner.js';
import { placeholder } from './fixture.js';

const BUCKET = 'homebound-dmap-test';
/** Loading never calls S3; the client only has to be there. */
const s3 = new S3Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', forcePathStyle: true });

/** A machine whose only state is the Distributed Map `Fan`; its child runs the Task `Work`. */
function fanOut(fields: object, work: object = {}): object {
  return {
    StartAt: 'Fan',
    States: {
      Fan: {
        Type: 'Map',
        ItemProcessor: {
          ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
          StartAt: 'Work',
          States: {
            Work: { Type: 'Task', Resource: placeholder('WorkFunctionArn'), TimeoutSeconds: 30, End: true, ...work },
          },
        },
        End: true,
        ...fields,
      },
    },
  };
}

describe('loading a Distributed Map', () => {
  const reader = (extra: object = {}) => ({
    Resource: 'arn:aws:states:::s3:getObject',
    ReaderConfig: { InputType: 'JSON' },
    Parameters: { Bucket: BUCKET, Key: 'items.json' },
    ...extra,
  });
  const loadWith = (fields: object, options: { s3?: S3Client } = { s3 }) =>
    LocalStateMachine.load({ definition: fanOut(fields), handlers: { WorkFunctionArn: async () => null }, ...options });

  it('fails with MissingS3ClientError naming the state when an ItemReader or ResultWriter has no S3 client', () => {
    const writer = { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: BUCKET } };
    expect(() => loadWith({ ItemReader: reader() }, {})).toThrow(MissingS3ClientError);
    expect(() => loadWith({ ItemReader: reader() }, {})).toThrow(/state "Fan": ItemReader/);
    expect(() => loadWith({ ResultWriter: writer }, {})).toThrow(/state "Fan": ResultWriter/);
  });

  it.each([
    ['a CSV ItemReader', { ItemReader: reader({ ReaderConfig: { InputType: 'CSV' } }) }, /ReaderConfig\.InputType/],
    [
      'an ItemReader resource other than getObject/listObjectsV2',
      { ItemReader: reader({ Resource: 'arn:aws:states:::athena:getQueryResults' }) },
      /ItemReader\.Resource/,
    ],
    [
      'a ResultWriter WriterConfig',
      {
        ResultWriter: {
          Resource: 'arn:aws:states:::s3:putObject',
          Parameters: { Bucket: BUCKET },
          WriterConfig: { OutputType: 'JSONL' },
        },
      },
      /ResultWriter\.WriterConfig/,
    ],
    ['Parameters (the old name of ItemSelector)', { Parameters: { 'item.$': '$$.Map.Item.Value' } }, /Parameters/],
  ])('refuses %s with DistributedMapNotSupportedError naming the field', (_label, fields, fieldName) => {
    expect(() => loadWith(fields)).toThrow(DistributedMapNotSupportedError);
    expect(() => loadWith(fields)).toThrow(fieldName);
  });

  it('refuses a setting given both as a value and as a Path', () => {
    expect(() => loadWith({ MaxConcurrency: 2, MaxConcurrencyPath: '$.concurrency' })).toThrow(InvalidDefinitionError);
    expect(() => loadWith({ MaxConcurrency: 2, MaxConcurrencyPath: '$.concurrency' })).toThrow(/MaxConcurrencyPath/);
  });

  it('refuses a .waitForTaskToken Task in an EXPRESS child, as AWS does', () => {
    const definition = fanOut(
      {},
      {
        Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
        Parameters: { FunctionName: placeholder('WorkFunctionArn'), Payload: { 'token.$': '$$.Task.Token' } },
      },
    );
    const fan = (definition as { States: { Fan: { ItemProcessor: { ProcessorConfig: object } } } }).States.Fan;
    fan.ItemProcessor.ProcessorConfig = { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' };

    expect(() => LocalStateMachine.load({ definition, handlers: { WorkFunctionArn: async () => null } })).toThrow(
      InvalidDefinitionError,
    );
  });
});
