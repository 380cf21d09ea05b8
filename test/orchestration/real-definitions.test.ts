import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { runLayout } from '../../core/failback/run-state.js';
import { LocalStateMachine } from '../../core/orchestration/local-runner.js';

const files = ['automated-failback.asl.json', 'conditional-automated-failback.asl.json'];

describe('the deployed ASL files on the local runner', () => {
  it.each(files)('statemachines/%s loads, every Task bound, nothing refused', (file) => {
    const path = fileURLToPath(new URL(`../../statemachines/${file}`, import.meta.url));
    // Every ${Name} in the file: a handler where it binds a Task, a substitution anywhere else.
    const names = [...new Set([...readFileSync(path, 'utf8').matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]))];
    const handlers = Object.fromEntries(names.map((name) => [name, async () => ({})]));
    const substitutions = Object.fromEntries(names.map((name) => [name, 'placeholder-value']));
    // Loading never calls S3; a Distributed Map reading or writing S3 only needs the client to be given.
    const s3 = new S3Client({ region: 'us-east-1' });

    const machine = LocalStateMachine.load({ definition: path, handlers, substitutions, s3 });

    expect(machine.taskStates.length).toBeGreaterThan(10);
    expect(machine.warnings).toEqual([]);
  });
});

describe.each(files)('the StreamPass state of statemachines/%s', (file) => {
  const definition = JSON.parse(
    readFileSync(fileURLToPath(new URL(`../../statemachines/${file}`, import.meta.url)), 'utf8'),
  );
  const { StreamPass: map, CheckSnapshots: check, RecordPass: record } = definition.States;

  it('is a Distributed Map of Standard children (a volume loops on its cursor for longer than Express allows)', () => {
    expect(map.Type).toBe('Map');
    expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    expect(map.ItemsPath).toBeUndefined();
    expect(map.MaxConcurrency).toBeGreaterThan(0);
    // A volume's split pass stays an inline Map inside its child.
    expect(map.ItemProcessor.States.StreamShardRanges.ItemProcessor.ProcessorConfig.Mode).toBe('INLINE');
  });

  it("reads its items from the object CheckSnapshots wrote for this run's pass, and writes its results beside it", () => {
    expect(check.Parameters).toEqual({
      'runId.$': '$.runId',
      'passNumber.$': '$.pass.number',
      'snapshots.$': '$.pass.snapshots',
    });
    expect(check.ResultPath).toBe('$.snapshotCheck');
    expect(map.ItemReader).toEqual({
      Resource: 'arn:aws:states:::s3:getObject',
      ReaderConfig: { InputType: 'JSON' },
      Parameters: { 'Bucket.$': '$.snapshotCheck.items.bucket', 'Key.$': '$.snapshotCheck.items.key' },
    });
    expect(map.ResultWriter).toEqual({
      Resource: 'arn:aws:states:::s3:putObject',
      Parameters: { 'Bucket.$': '$.snapshotCheck.results.bucket', 'Prefix.$': '$.snapshotCheck.results.prefix' },
    });
    // The children's pass is the one whose snapshots CheckSnapshots wrote.
    expect(map.ItemSelector).toMatchObject({ 'runId.$': '$.runId', 'passNumber.$': '$.pass.number' });
  });

  it("puts the run's items and results under the run's own prefix, outside every gateway's", () => {
    const items = runLayout.passItemsKey('run-7', 3);
    const results = runLayout.passResultsPrefix('run-7', 3);
    expect(items.startsWith(runLayout.root('run-7'))).toBe(true);
    expect(results.startsWith(runLayout.root('run-7'))).toBe(true);
    expect(items.startsWith(runLayout.gateways('run-7'))).toBe(false);
    expect(results.startsWith(runLayout.gateways('run-7'))).toBe(false);
    expect(items).not.toContain('/gateways/');
    expect(results.startsWith(runLayout.passMaps('run-7'))).toBe(true);
  });

  it("hands RecordPass the map's ResultWriter output, not the volumes' results", () => {
    expect(map.ResultPath).toBe('$.streamed');
    expect(record.Parameters['results.$']).toBe('$.streamed.ResultWriterDetails');
    expect(JSON.stringify(record.Parameters)).not.toContain('"streamed.$"');
  });
});

describe.each(files)('the waves of statemachines/%s', (file) => {
  const definition = JSON.parse(
    readFileSync(fileURLToPath(new URL(`../../statemachines/${file}`, import.meta.url)), 'utf8'),
  );
  const wavesOf = (name: string) => definition.States[name];

  it('stops the takeover hosts last wave first and restarts them first wave first, one wave at a time', () => {
    expect(wavesOf('StopTakeoverHosts')).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.wavesStopOrder',
      MaxConcurrency: 1,
    });
    expect(wavesOf('RestartTakeoverHosts')).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.rollback.restartWaves',
      MaxConcurrency: 1,
    });
  });

  it('retries starting a takeover host that is still stopping (HostStateError) instead of failing the rollback', () => {
    const start = wavesOf('RestartTakeoverHosts').ItemProcessor.States.StartTakeoverWave;
    const retry = start.Retry.find((rule: { ErrorEquals: string[] }) => rule.ErrorEquals.includes('HostStateError'));
    expect(retry).toBeDefined();
    // Long enough for EC2 to finish stopping an instance (about 5 minutes of back-off in all).
    let waited = 0;
    for (let attempt = 0; attempt < retry.MaxAttempts; attempt++) {
      waited += Math.min(retry.IntervalSeconds * retry.BackoffRate ** attempt, retry.MaxDelaySeconds);
    }
    expect(waited).toBeGreaterThanOrEqual(240);
  });
});
