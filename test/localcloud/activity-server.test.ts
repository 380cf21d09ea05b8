import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import {
  ActivityDoesNotExist,
  CreateActivityCommand,
  DescribeActivityCommand,
  GetActivityTaskCommand,
  InvalidOutput,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ActivityServer,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalCredentials,
  localSfnClientConfig,
} from '../../core/localcloud/index.js';
import { ActivityQueues, localActivityArn } from '../../core/orchestration/activity-queues.js';
import { TaskFailedError } from '../../core/orchestration/errors.js';
import { startTestCloud } from './helpers.js';

const AGENT = localActivityArn('homebound-agent');
const execFileAsync = promisify(execFile);
const POLL_WAIT_MS = 300;

interface Harness {
  readonly server: ActivityServer;
  readonly activities: ActivityQueues;
  readonly client: SFNClient;
}

const started: Harness[] = [];

async function startServer(
  options: { readonly credentials?: LocalCredentials; readonly pollWaitMs?: number } = {},
): Promise<Harness> {
  const activities = new ActivityQueues();
  activities.createActivity('homebound-agent');
  const { credentials = LOCAL_CREDENTIALS, pollWaitMs = POLL_WAIT_MS } = options;
  const server = await ActivityServer.start({ activities, credentials: LOCAL_CREDENTIALS, pollWaitMs });
  const client = new SFNClient({
    endpoint: server.endpoint,
    region: LOCAL_REGION,
    credentials: { ...credentials },
    maxAttempts: 1,
  });
  const harness = { server, activities, client };
  started.push(harness);
  return harness;
}

function schedule(activities: ActivityQueues, input: object, heartbeatMs?: number) {
  return activities.schedule({
    activityArn: AGENT,
    input: { ...input },
    executionName: 'run-1',
    stateName: 'PrepareOnPremTarget',
    ...(heartbeatMs === undefined ? {} : { heartbeatMs }),
  });
}

afterEach(async () => {
  for (const { server, client } of started.splice(0)) {
    client.destroy();
    await server.close();
  }
});

describe('local Step Functions activity API', () => {
  it('hands a scheduled task to GetActivityTask and delivers SendTaskSuccess output to the waiting side', async () => {
    const { activities, client } = await startServer();
    const task = schedule(activities, { operation: 'PrepareTarget', runId: 'run-1' });

    const polled = await client.send(new GetActivityTaskCommand({ activityArn: AGENT, workerName: 'agent-a' }));
    await client.send(new SendTaskHeartbeatCommand({ taskToken: polled.taskToken }));
    await client.send(
      new SendTaskSuccessCommand({ taskToken: polled.taskToken, output: JSON.stringify({ disks: ['d-1'] }) }),
    );

    expect(polled.taskToken).toBe(task.taskToken);
    expect(JSON.parse(polled.input ?? '')).toEqual({ operation: 'PrepareTarget', runId: 'run-1' });
    await expect(task.completion).resolves.toEqual({ disks: ['d-1'] });
  });

  it('answers a waiting long poll as soon as a task is scheduled', async () => {
    // A long wait, so the answer can only come from the schedule.
    const { activities, client } = await startServer({ pollWaitMs: 10_000 });
    const before = Date.now();
    const polling = client.send(new GetActivityTaskCommand({ activityArn: AGENT }));
    await new Promise((resolve) => setTimeout(resolve, 100));

    const task = schedule(activities, { operation: 'Verify' });
    const polled = await polling;

    expect(polled.taskToken).toBe(task.taskToken);
    expect(Date.now() - before).toBeLessThan(5_000);
  });

  it('takes a worker that hangs up mid-poll out of line, so the next task goes to one still listening', async () => {
    const { activities, client } = await startServer({ pollWaitMs: 10_000 });
    const hangUp = new AbortController();
    const abandoned = client.send(new GetActivityTaskCommand({ activityArn: AGENT }), { abortSignal: hangUp.signal });
    await new Promise((resolve) => setTimeout(resolve, 100));
    hangUp.abort();
    await abandoned.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));

    const task = schedule(activities, { operation: 'Verify' });
    const polled = await client.send(new GetActivityTaskCommand({ activityArn: AGENT }));

    expect(polled.taskToken).toBe(task.taskToken);
  });

  it('fails the waiting side with the error and cause of SendTaskFailure', async () => {
    const { activities, client } = await startServer();
    const task = schedule(activities, { operation: 'Cutover' });
    const polled = await client.send(new GetActivityTaskCommand({ activityArn: AGENT }));

    await client.send(
      new SendTaskFailureCommand({ taskToken: polled.taskToken, error: 'VmPowerOnError', cause: 'vm-7 refused' }),
    );

    const failure = await task.completion.catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TaskFailedError);
    expect(failure).toMatchObject({ name: 'VmPowerOnError', cause: 'vm-7 refused' });
  });

  it('answers an empty poll without a task token after the configured wait', async () => {
    const { client } = await startServer();
    const before = Date.now();

    const polled = await client.send(new GetActivityTaskCommand({ activityArn: AGENT }));

    expect(polled.taskToken).toBeUndefined();
    expect(Date.now() - before).toBeGreaterThanOrEqual(POLL_WAIT_MS - 20);
    expect(Date.now() - before).toBeLessThan(POLL_WAIT_MS + 2_000);
  });

  it('refuses a request signed with the wrong secret, and one with an unknown access key', async () => {
    const wrongSecret = await startServer({
      credentials: { accessKeyId: LOCAL_CREDENTIALS.accessKeyId, secretAccessKey: 'nope' },
    });
    const wrongKey = await startServer({ credentials: { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'nope' } });
    schedule(wrongSecret.activities, { operation: 'Verify' });

    await expect(wrongSecret.client.send(new GetActivityTaskCommand({ activityArn: AGENT }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
    });
    await expect(wrongKey.client.send(new DescribeActivityCommand({ activityArn: AGENT }))).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
    });
    // The refused poll took nothing.
    expect(wrongSecret.activities.queuedCount(AGENT)).toBe(1);
  });

  it('answers TaskDoesNotExist for an unknown token and for one already completed', async () => {
    const { activities, client } = await startServer();
    schedule(activities, { operation: 'Verify' });
    const polled = await client.send(new GetActivityTaskCommand({ activityArn: AGENT }));
    await client.send(new SendTaskSuccessCommand({ taskToken: polled.taskToken, output: '{}' }));

    await expect(
      client.send(new SendTaskSuccessCommand({ taskToken: 'never-issued', output: '{}' })),
    ).rejects.toBeInstanceOf(TaskDoesNotExist);
    await expect(client.send(new SendTaskHeartbeatCommand({ taskToken: polled.taskToken }))).rejects.toBeInstanceOf(
      TaskDoesNotExist,
    );
  });

  it('fails a task whose worker stops heartbeating with States.HeartbeatTimeout; its late calls get TaskTimedOut', async () => {
    const { activities, client } = await startServer();
    const task = schedule(activities, { operation: 'PrepareTarget' }, 150);
    const polled = await client.send(new GetActivityTaskCommand({ activityArn: AGENT }));
    // Heartbeats keep it alive past one HeartbeatSeconds…
    for (let beat = 0; beat < 3; beat += 1) {
      await new Promise((resolve) => setTimeout(resolve, 80));
      await client.send(new SendTaskHeartbeatCommand({ taskToken: polled.taskToken }));
    }

    // …then silence ends it.
    const failure = await task.completion.catch((error: unknown) => error);

    expect(failure).toMatchObject({ name: 'States.HeartbeatTimeout' });
    await expect(
      client.send(new SendTaskSuccessCommand({ taskToken: polled.taskToken, output: '{}' })),
    ).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('refuses an unknown activity and output that is not JSON with the named SFN exceptions', async () => {
    const { activities, client } = await startServer();
    schedule(activities, { operation: 'Verify' });
    const polled = await client.send(new GetActivityTaskCommand({ activityArn: AGENT }));

    await expect(
      client.send(new GetActivityTaskCommand({ activityArn: localActivityArn('nobody') })),
    ).rejects.toBeInstanceOf(ActivityDoesNotExist);
    await expect(
      client.send(new SendTaskSuccessCommand({ taskToken: polled.taskToken, output: '{not json' })),
    ).rejects.toBeInstanceOf(InvalidOutput);
  });

  it('creates and describes activities', async () => {
    const { client } = await startServer();

    const created = await client.send(new CreateActivityCommand({ name: 'drill-worker' }));
    const described = await client.send(new DescribeActivityCommand({ activityArn: created.activityArn }));

    expect(created.activityArn).toBe(localActivityArn('drill-worker'));
    expect(described.name).toBe('drill-worker');
    expect(described.creationDate).toBeInstanceOf(Date);
  });
});

/** A worker in its own process that only has `cloud.env()`: one task, answered with its input's `n` doubled. */
const CHILD_WORKER = `
import { GetActivityTaskCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
const sfn = new SFNClient({});
for (;;) {
  const { taskToken, input } = await sfn.send(new GetActivityTaskCommand({ activityArn: process.env.ARN, workerName: 'child' }));
  if (!taskToken) continue;
  await sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ doubled: JSON.parse(input).n * 2 }) }));
  break;
}`;

describe('startLocalCloud activity API', () => {
  it('reaches a worker process through nothing but cloud.env()', async () => {
    const cloud = await startTestCloud({ pollWaitMs: 100 });
    try {
      const arn = cloud.activityArns['homebound-agent'] ?? '';
      const child = execFileAsync(process.execPath, ['--input-type=module', '-e', CHILD_WORKER], {
        env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), ...cloud.env(), ARN: arn },
        timeout: 30_000,
      });
      const task = cloud.activities.schedule({
        activityArn: arn,
        input: { n: 21 },
        executionName: 'e',
        stateName: 's',
      });

      await child;

      await expect(task.completion).resolves.toEqual({ doubled: 42 });
    } finally {
      await cloud.stop();
    }
  });

  it('serves the homebound-agent activity at sfnEndpoint and gives child processes AWS_ENDPOINT_URL_SFN', async () => {
    const cloud = await startTestCloud({ pollWaitMs: 50 });
    const client = new SFNClient(localSfnClientConfig(cloud));
    try {
      const arn = cloud.activityArns['homebound-agent'] ?? '';
      const task = cloud.activities.schedule({ activityArn: arn, input: { a: 1 }, executionName: 'e', stateName: 's' });

      const polled = await client.send(new GetActivityTaskCommand({ activityArn: arn }));
      await client.send(new SendTaskSuccessCommand({ taskToken: polled.taskToken, output: '{"ok":true}' }));

      expect(cloud.env().AWS_ENDPOINT_URL_SFN).toBe(cloud.sfnEndpoint);
      await expect(task.completion).resolves.toEqual({ ok: true });
    } finally {
      client.destroy();
      await cloud.stop();
    }
  });
});
