import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_REGION, type LocalS3Server, localS3ClientConfig, startS3Server } from '../../core/localcloud/index.js';
import { isJsonObject } from '../../core/orchestration/json.js';
import {
  DISTRIBUTED_MAP_CONCURRENCY_CAP,
  ExecutionFailedError,
  type JsonValue,
  type LocalRunEvent,
  LocalStateMachine,
  type TaskHandler,
} from '../../core/orchestration/local-runner.js';
import { placeholder } from './fixture.js';

const BUCKET = 'homebound-dmap-test';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/** A machine whose only state is the Distributed Map `Fan`; its child runs the Task `Work` (or `work`). */
function fanOut(fields: object, work: object = {}, next: object = { End: true }): object {
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
        ...fields,
        ...next,
      },
    },
  };
}

let server: LocalS3Server;
let dir: string;
let s3: S3Client;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-dmap-'));
  server = await startS3Server({ directory: dir, buckets: [BUCKET] });
  s3 = new S3Client(
    localS3ClientConfig({ s3Endpoint: server.endpoint, region: LOCAL_REGION, credentials: server.credentials }),
  );
});

afterAll(async () => {
  s3.destroy();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const load = (definition: object, work: TaskHandler) =>
  LocalStateMachine.load({ definition, name: 'fleet', handlers: { WorkFunctionArn: work }, s3 });

const put = (key: string, body: string) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));

async function readJson(key: string): Promise<unknown> {
  const response = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return JSON.parse((await response.Body?.transformToString('utf8')) ?? '');
}

const field = (value: JsonValue, key: string): JsonValue | undefined => (isJsonObject(value) ? value[key] : undefined);

describe('Distributed Map on the local runner', () => {
  it('reads its items from a JSON array object in S3 and applies ItemSelector to each', async () => {
    const volumes = ['vol-1', 'vol-2', 'vol-3', 'vol-4', 'vol-5'].map((volumeId) => ({ volumeId }));
    await put('fleet/run-1/volumes.json', JSON.stringify(volumes));
    const seen: JsonValue[] = [];
    const machine = load(
      fanOut({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSON' },
          Parameters: { 'Bucket.$': '$.bucket', 'Key.$': "States.Format('fleet/{}/volumes.json', $.runId)" },
        },
        ItemSelector: {
          'volumeId.$': '$$.Map.Item.Value.volumeId',
          'index.$': '$$.Map.Item.Index',
          'runId.$': '$$.Execution.Name',
          'requestedBy.$': '$$.Execution.Input.requestedBy',
        },
        InputPath: '$.job',
      }),
      async (input) => {
        seen.push(input);
        return { copied: field(input, 'volumeId') };
      },
    );

    const input = { job: { bucket: BUCKET, runId: 'run-1' }, requestedBy: 'ops' };
    const output = await machine.run(input, { executionName: 'drill-9' }).result;

    // The output keeps item order whatever order the children finished in.
    expect(output).toEqual(volumes.map(({ volumeId }) => ({ copied: volumeId })));
    // $$.Execution in ItemSelector is the parent execution's (its input too), not the state's input or the item.
    expect(seen).toEqual(
      expect.arrayContaining(
        volumes.map(({ volumeId }, index) => ({ volumeId, index, runId: 'drill-9', requestedBy: 'ops' })),
      ),
    );
    expect(seen).toHaveLength(5);
  });

  it('reads one item per object from listObjectsV2 under a Prefix, at most ReaderConfig.MaxItems', async () => {
    const bodies: Record<string, string> = { 'shards/a.bin': 'a', 'shards/b.bin': 'bbbb', 'shards/c.bin': 'cc' };
    for (const [key, body] of Object.entries(bodies)) await put(key, body);
    await put('elsewhere/d.bin', 'd');
    const listing = (maxItems?: number) =>
      load(
        fanOut({
          ItemReader: {
            Resource: 'arn:aws:states:::s3:listObjectsV2',
            Parameters: { Bucket: BUCKET, Prefix: 'shards/' },
            ...(maxItems === undefined ? {} : { ReaderConfig: { MaxItems: maxItems } }),
          },
        }),
        async (input) => input,
      );

    const output = await listing().run({}).result;
    const limited = await listing(2).run({}).result;

    expect(Array.isArray(output) && output.map((item) => field(item, 'Key'))).toEqual(Object.keys(bodies));
    const first = Array.isArray(output) ? output[1] : undefined;
    expect(first).toEqual({
      Key: 'shards/b.bin',
      Size: 4,
      Etag: expect.stringMatching(/^"[0-9a-f]{32}"$/),
      LastModified: expect.any(Number),
      StorageClass: 'STANDARD',
    });
    // LastModified is epoch seconds, as AWS gives it.
    expect(Math.abs(Number(field(first ?? null, 'LastModified')) - Date.now() / 1000)).toBeLessThan(120);
    expect(Array.isArray(limited) && limited.map((item) => field(item, 'Key'))).toEqual([
      'shards/a.bin',
      'shards/b.bin',
    ]);
  });

  it('runs ItemBatcher batches as one child each, with BatchInput', async () => {
    const inputs: JsonValue[] = [];
    const machine = load(
      fanOut({ ItemsPath: '$.hosts', ItemBatcher: { MaxItemsPerBatch: 3, BatchInput: { 'runId.$': '$.runId' } } }),
      async (input) => {
        inputs.push(input);
        const items = field(input, 'Items');
        return Array.isArray(items) ? items.length : -1;
      },
    );
    const hosts = ['h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6'];

    const execution = machine.run({ runId: 'r-3', hosts });
    const output = await execution.result;

    expect(output).toEqual([3, 3, 1]);
    expect(execution.childExecutions.map((child) => child.input)).toEqual([
      { Items: ['h0', 'h1', 'h2'], BatchInput: { runId: 'r-3' } },
      { Items: ['h3', 'h4', 'h5'], BatchInput: { runId: 'r-3' } },
      { Items: ['h6'], BatchInput: { runId: 'r-3' } },
    ]);
  });

  it('cuts batches at MaxInputBytesPerBatch', async () => {
    // Each item is 12 bytes of JSON ("xxxxxxxxxx"); {"Items":[]} is 12 bytes; 2 items with their comma make 37.
    const item = 'x'.repeat(10);
    const machine = load(fanOut({ ItemBatcher: { MaxInputBytesPerBatch: 37 } }), async (input) => input);

    const execution = machine.run([item, item, item, item, item]);
    await execution.result;

    expect(execution.childExecutions.map((child) => JSON.stringify(child.input).length)).toEqual([37, 37, 24]);
  });

  it.each([
    ['MaxConcurrency 3', 3, 12, 3],
    ['MaxConcurrency 0 (capped locally)', 0, DISTRIBUTED_MAP_CONCURRENCY_CAP + 10, DISTRIBUTED_MAP_CONCURRENCY_CAP],
  ])('never runs more children at once than %s allows', async (_label, maxConcurrency, items, expected) => {
    let running = 0;
    let peak = 0;
    const machine = load(fanOut({ MaxConcurrency: maxConcurrency }), async () => {
      running += 1;
      peak = Math.max(peak, running);
      await sleep(40);
      running -= 1;
      return 'ok';
    });

    const output = await machine.run(Array.from({ length: items }, (_, index) => index)).result;

    expect(output).toHaveLength(items);
    expect(peak).toBe(expected);
  });

  it('reads MaxConcurrencyPath, ToleratedFailureCountPath and MaxItemsPerBatchPath from the input', async () => {
    let running = 0;
    let peak = 0;
    const machine = load(
      fanOut({
        ItemsPath: '$.disks',
        MaxConcurrencyPath: '$.settings.concurrency',
        ToleratedFailureCountPath: '$.settings.tolerated',
        ItemBatcher: { MaxItemsPerBatchPath: '$.settings.batch' },
      }),
      async (input) => {
        running += 1;
        peak = Math.max(peak, running);
        await sleep(30);
        running -= 1;
        const items = field(input, 'Items');
        if (Array.isArray(items) && items.includes('bad')) throw new Error('unreadable');
        return items;
      },
    );
    const disks = ['d0', 'd1', 'bad', 'd3', 'd4', 'd5', 'd6', 'd7'];

    const within = await machine.run({ disks, settings: { concurrency: 2, tolerated: 2, batch: 2 } }).result;
    const beyond = machine.run({ disks, settings: { concurrency: 2, tolerated: 1, batch: 2 } }).result.catch((e) => e);
    const invalid = machine
      .run({ disks, settings: { concurrency: -1, tolerated: 1, batch: 2 } })
      .result.catch((e) => e);

    // Batches of 2: the failing batch carries 2 items, within a tolerance of 2, beyond a tolerance of 1.
    expect(Array.isArray(within) && within.length).toBe(4);
    expect(peak).toBe(2);
    expect(await beyond).toMatchObject({ error: 'States.ExceedToleratedFailureThreshold' });
    expect(await invalid).toMatchObject({
      error: 'States.Runtime',
      cause: expect.stringMatching(/MaxConcurrencyPath/),
    });
  });

  /** 10 items, `failing` of them fail their child. */
  const withFailures = (fields: object, failing: number, next?: object) =>
    load(fanOut(fields, {}, next), async (input) => {
      if (typeof input === 'number' && input < failing) {
        throw Object.assign(new Error(`disk ${input} unreadable`), { name: 'DiskUnreadable' });
      }
      return input;
    }).run(Array.from({ length: 10 }, (_, index) => index));

  it('succeeds while failed items stay within ToleratedFailurePercentage, the failures in their places', async () => {
    const output = await withFailures({ ToleratedFailurePercentage: 20 }, 2).result;

    expect(Array.isArray(output) && output.slice(0, 3)).toEqual([
      { Error: 'DiskUnreadable', Cause: expect.stringContaining('disk 0 unreadable') },
      { Error: 'DiskUnreadable', Cause: expect.stringContaining('disk 1 unreadable') },
      2,
    ]);
  });

  it.each([
    ['ToleratedFailurePercentage 20 with 3 of 10 failing', { ToleratedFailurePercentage: 20 }, 3],
    ['ToleratedFailureCount 1 with 2 failing', { ToleratedFailureCount: 1 }, 2],
    ['no tolerance with 1 failing', {}, 1],
  ])('fails with States.ExceedToleratedFailureThreshold: %s', async (_label, fields, failing) => {
    const execution = withFailures({ ...fields, MaxConcurrency: 1 }, failing);

    const failure = await execution.result.catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ExecutionFailedError);
    expect(failure).toMatchObject({ error: 'States.ExceedToleratedFailureThreshold' });
    expect(execution.history.map((event) => event.type)).toContain('MapRunFailed');
    // One at a time: the run stops starting children once the threshold is crossed.
    expect(execution.childExecutions.length).toBeLessThan(10);
  });

  it('aborts the running children when the threshold is crossed, and when the parent is aborted', async () => {
    const signals: AbortSignal[] = [];
    const slowOrFailing: TaskHandler = async (input, context) => {
      if (input === 'fail') {
        await sleep(50);
        throw new Error('disk gone');
      }
      signals.push(context.signal);
      await sleep(10_000, undefined, { signal: context.signal });
      return input;
    };
    const crossed = load(fanOut({ ItemsPath: '$.items' }), slowOrFailing).run({ items: ['slow', 'fail', 'slow'] });
    await expect(crossed.result).rejects.toMatchObject({ error: 'States.ExceedToleratedFailureThreshold' });
    expect(crossed.childExecutions.map((child) => child.status).sort()).toEqual(['ABORTED', 'ABORTED', 'FAILED']);

    const aborted = load(fanOut({ ItemsPath: '$.items' }), slowOrFailing).run({ items: ['slow', 'slow'] });
    await sleep(100);
    aborted.abort();
    await expect(aborted.result).rejects.toMatchObject({ name: 'ExecutionAbortedError' });
    await sleep(20);
    expect(aborted.childExecutions.map((child) => child.status)).toEqual(['ABORTED', 'ABORTED']);
    expect(signals).toHaveLength(4);
    expect(signals.every((signal) => signal.aborted)).toBe(true);
  });

  it('lets a Catch handle States.ExceedToleratedFailureThreshold', async () => {
    const definition = fanOut(
      { ItemsPath: '$.hosts' },
      {},
      {
        Catch: [{ ErrorEquals: ['States.ExceedToleratedFailureThreshold'], ResultPath: '$.failure', Next: 'Rollback' }],
        Next: 'Done',
      },
    );
    Object.assign((definition as { States: object }).States, {
      Done: { Type: 'Succeed' },
      Rollback: { Type: 'Pass', Result: { rolledBack: true }, ResultPath: '$.outcome', End: true },
    });
    const machine = load(definition, async () => {
      throw new Error('boom');
    });

    const output = await machine.run({ hosts: ['h0'] }).result;

    expect(field(field(output, 'failure') ?? null, 'Error')).toBe('States.ExceedToleratedFailureThreshold');
    expect(field(output, 'outcome')).toEqual({ rolledBack: true });
  });

  it("exports the children's results through ResultWriter and outputs the MapRunArn and manifest location", async () => {
    const machine = load(
      fanOut({
        Label: 'CopyShards',
        ToleratedFailureCount: 1,
        ResultWriter: {
          Resource: 'arn:aws:states:::s3:putObject',
          Parameters: { Bucket: BUCKET, 'Prefix.$': "States.Format('results/{}', $$.Execution.Name)" },
        },
        ItemsPath: '$.shards',
      }),
      async (input) => {
        if (input === 'bad') throw Object.assign(new Error('checksum mismatch'), { name: 'ChecksumMismatch' });
        return { shard: input };
      },
    );

    const execution = machine.run({ shards: ['s0', 'bad', 's2'] }, { executionName: 'run-rw' });
    const output = await execution.result;

    const mapRunArn = String(field(output, 'MapRunArn'));
    expect(mapRunArn).toMatch(new RegExp(`^arn:aws:states:local:000000000000:mapRun:fleet/CopyShards:${UUID}$`));
    const mapRunId = mapRunArn.split(':').at(-1);
    const manifestKey = `results/run-rw/${mapRunId}/manifest.json`;
    expect(output).toEqual({ MapRunArn: mapRunArn, ResultWriterDetails: { Bucket: BUCKET, Key: manifestKey } });
    expect(await readJson(manifestKey)).toEqual({
      DestinationBucket: BUCKET,
      MapRunArn: mapRunArn,
      ResultFiles: {
        SUCCEEDED: [{ Key: `results/run-rw/${mapRunId}/SUCCEEDED_0.json`, Size: expect.any(Number) }],
        FAILED: [{ Key: `results/run-rw/${mapRunId}/FAILED_0.json`, Size: expect.any(Number) }],
        PENDING: [],
      },
    });
    const succeeded = await readJson(`results/run-rw/${mapRunId}/SUCCEEDED_0.json`);
    expect(succeeded).toEqual([
      expect.objectContaining({ Status: 'SUCCEEDED', Input: '"s0"', Output: '{"shard":"s0"}' }),
      expect.objectContaining({ Status: 'SUCCEEDED', Input: '"s2"', Output: '{"shard":"s2"}' }),
    ]);
    expect(await readJson(`results/run-rw/${mapRunId}/FAILED_0.json`)).toEqual([
      expect.objectContaining({
        Status: 'FAILED',
        Input: '"bad"',
        Error: 'ChecksumMismatch',
        Cause: expect.stringContaining('checksum mismatch'),
        ExecutionArn: expect.stringMatching(new RegExp(`:execution:fleet/CopyShards:${UUID}$`)),
      }),
    ]);
  });

  it('runs each item as a child execution with its own name, $$.Execution and history', async () => {
    const childEvents: LocalRunEvent[] = [];
    const machine = load(
      fanOut(
        { ItemsPath: '$.volumes' },
        { Parameters: { 'name.$': '$$.Execution.Name', 'input.$': '$$.Execution.Input', 'id.$': '$$.Execution.Id' } },
      ),
      async (input) => input,
    );

    const execution = machine.run(
      { volumes: ['vol-a', 'vol-b'] },
      { onChildEvent: (event) => childEvents.push(event) },
    );
    const output = await execution.result;

    const children = execution.childExecutions;
    expect(children).toHaveLength(2);
    for (const [index, child] of children.entries()) {
      expect(child.executionArn).toMatch(new RegExp(`^arn:aws:states:local:000000000000:execution:fleet/Fan:${UUID}$`));
      expect(child.executionArn.endsWith(`:${child.executionName}`)).toBe(true);
      expect(child.status).toBe('SUCCEEDED');
      // Inside the child, $$.Execution is the child's: its name, its ARN, its input (the item).
      expect(child.output).toEqual({ name: child.executionName, input: child.input, id: child.executionArn });
      expect(Array.isArray(output) && output[index]).toEqual(child.output);
      const types = child.history.map((event) => event.type);
      expect(types).toEqual(['ExecutionStarted', 'StateEntered', 'StateExited', 'ExecutionSucceeded']);
      expect(child.history.every((event) => event.executionName === child.executionName)).toBe(true);
    }
    expect(children.map((child) => child.input).sort()).toEqual(['vol-a', 'vol-b']);
    expect(childEvents).toHaveLength(8);
    // The parent's history holds the map run, not the children's states.
    const parentTypes = execution.history.map((event) => event.type);
    expect(parentTypes).toEqual([
      'ExecutionStarted',
      'StateEntered',
      'MapRunStarted',
      'MapRunSucceeded',
      'StateExited',
      'ExecutionSucceeded',
    ]);
    expect(execution.history.find((event) => event.type === 'StateEntered')).toMatchObject({
      stateName: 'Fan',
      stateType: 'Map',
    });
    expect(execution.history.find((event) => event.type === 'MapRunStarted')).toMatchObject({
      itemCount: 2,
      childCount: 2,
    });
  });
});

describe('the Distributed Map state around its map run', () => {
  it('keeps InputPath, ResultSelector, ResultPath and OutputPath of the state', async () => {
    const machine = load(
      fanOut({
        InputPath: '$.job',
        ItemsPath: '$.volumes',
        ResultSelector: { 'copies.$': '$' },
        ResultPath: '$.result',
        OutputPath: '$.result.copies',
      }),
      async (input) => ({ copied: input }),
    );

    const output = await machine.run({ job: { volumes: ['v1', 'v2'] } }).result;

    expect(output).toEqual([{ copied: 'v1' }, { copied: 'v2' }]);
  });

  it('fails with States.ItemReaderFailed when the object is missing or not a JSON array', async () => {
    await put('fleet/not-an-array.json', JSON.stringify({ volumes: [] }));
    const reading = (key: string) =>
      load(
        fanOut({
          ItemReader: {
            Resource: 'arn:aws:states:::s3:getObject',
            ReaderConfig: { InputType: 'JSON' },
            Parameters: { Bucket: BUCKET, Key: key },
          },
        }),
        async (input) => input,
      ).run({}).result;

    await expect(reading('fleet/missing.json')).rejects.toMatchObject({ error: 'States.ItemReaderFailed' });
    await expect(reading('fleet/not-an-array.json')).rejects.toMatchObject({
      error: 'States.ItemReaderFailed',
      cause: expect.stringMatching(/not hold a JSON array/),
    });
  });

  it('fails with States.ResultWriterFailed when the results cannot be written', async () => {
    const machine = load(
      fanOut({
        ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: 'no-such-bucket-here' } },
      }),
      async (input) => input,
    );

    await expect(machine.run([1, 2]).result).rejects.toMatchObject({ error: 'States.ResultWriterFailed' });
  });
});

describe('nested Distributed Maps', () => {
  it('runs an inner map run inside each child and records every child in childExecutions', async () => {
    const definition = fanOut(
      {
        ItemsPath: '$.hosts',
        ItemSelector: { 'host.$': '$$.Map.Item.Value.id', 'volumes.$': '$$.Map.Item.Value.volumes' },
      },
      {},
    );
    const fan = (definition as { States: { Fan: { ItemProcessor: object } } }).States.Fan;
    fan.ItemProcessor = {
      ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
      StartAt: 'PerVolume',
      States: {
        PerVolume: {
          Type: 'Map',
          Label: 'Volumes',
          ItemProcessor: {
            ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' },
            StartAt: 'Work',
            States: { Work: { Type: 'Task', Resource: placeholder('WorkFunctionArn'), TimeoutSeconds: 30, End: true } },
          },
          ItemsPath: '$.volumes',
          ItemSelector: { 'host.$': '$.host', 'volume.$': '$$.Map.Item.Value' },
          End: true,
        },
      },
    };
    const machine = load(definition, async (input) => `${field(input, 'host')}:${field(input, 'volume')}`);

    const execution = machine.run({
      hosts: [
        { id: 'h1', volumes: ['v1', 'v2'] },
        { id: 'h2', volumes: ['v3'] },
      ],
    });
    const output = await execution.result;

    expect(output).toEqual([['h1:v1', 'h1:v2'], ['h2:v3']]);
    const arns = execution.childExecutions.map((child) => child.executionArn);
    expect(arns.filter((arn) => /:execution:fleet\/Fan:/.test(arn))).toHaveLength(2);
    expect(arns.filter((arn) => /:execution:fleet\/Fan\/Volumes:/.test(arn))).toHaveLength(3);
    const outer = execution.childExecutions.find(
      (child) => child.executionArn.includes('fleet/Fan:') && field(child.input, 'host') === 'h1',
    );
    expect(outer?.history.map((event) => event.type)).toContain('MapRunStarted');
  });
});
