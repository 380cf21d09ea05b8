import {
  GetActivityTaskCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { afterEach, describe, expect, it } from 'vitest';
import { ActivityServer, LOCAL_CREDENTIALS, LOCAL_REGION, localSfnClientConfig } from '../../core/localcloud/index.js';
import {
  ActivityQueues,
  HeartbeatPathNotSupportedError,
  InvalidRunnerOptionsError,
  type LocalRunEvent,
  LocalStateMachine,
  localActivityArn,
} from '../../core/orchestration/local-runner.js';
import { fixture, placeholder } from './fixture.js';

const AGENT = localActivityArn('homebound-agent');

interface Harness {
  readonly queues: ActivityQueues;
  readonly server: ActivityServer;
  readonly clients: SFNClient[];
}

const running: Harness[] = [];

afterEach(async () => {
  for (const { server, clients } of running.splice(0)) {
    for (const client of clients) client.destroy();
    await server.close();
  }
});

/** The activity API on loopback and a machine whose PrepareOnPremTarget is the homebound-agent activity. */
async function setUp(options: { heartbeatMs?: number } = {}) {
  const queues = new ActivityQueues();
  const server = await ActivityServer.start({ activities: queues, credentials: LOCAL_CREDENTIALS, pollWaitMs: 200 });
  const harness: Harness = { queues, server, clients: [] };
  running.push(harness);
  const machine = LocalStateMachine.load({
    definition: fixture('activities.asl.json'),
    handlers: { AnnounceFunctionArn: async () => ({}) },
    activities: { AgentActivityArn: AGENT },
    activityQueues: queues,
    heartbeatOverrides: { PrepareOnPremTarget: options.heartbeatMs ?? 60_000 },
    retryIntervalOverrides: { PrepareOnPremTarget: 10 },
  });
  /** A worker process's SFN client: the real SDK against the local activity API. */
  const worker = () => {
    const client = new SFNClient({
      ...localSfnClientConfig({ sfnEndpoint: server.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
      maxAttempts: 1,
    });
    harness.clients.push(client);
    return client;
  };
  return { machine, queues, worker };
}

/** Long-polls until a task comes, as the agent does (an empty taskToken means: poll again). */
async function takeTask(client: SFNClient, workerName: string): Promise<{ taskToken: string; input: unknown }> {
  for (;;) {
    const answer = await client.send(new GetActivityTaskCommand({ activityArn: AGENT, workerName }));
    if (answer.taskToken) {
      const input: unknown = JSON.parse(answer.input ?? 'null');
      return { taskToken: answer.taskToken, input };
    }
  }
}

/** One activity Task whose heartbeat window comes from the input, caught when it is missed. */
function heartbeatPathMachine(extra: object): object {
  return {
    StartAt: 'Verify',
    States: {
      Verify: {
        Type: 'Task',
        Resource: placeholder('AgentActivityArn'),
        TimeoutSeconds: 30,
        HeartbeatSecondsPath: '$.heartbeatSeconds',
        ...extra,
        Catch: [{ ErrorEquals: ['States.HeartbeatTimeout'], ResultPath: '$.error', Next: 'Missed' }],
        End: true,
      },
      Missed: { Type: 'Succeed' },
    },
  };
}

function ofType<T extends LocalRunEvent['type']>(history: readonly LocalRunEvent[], type: T) {
  return history.filter((event): event is Extract<LocalRunEvent, { type: T }> => event.type === type);
}

describe('Activity Tasks in the local runner', () => {
  it('hands the effective input to a polling worker and continues with the output it sends', async () => {
    const { machine, worker } = await setUp();
    const agent = worker();
    const execution = machine.run({ disks: ['vol-1'], timeoutSeconds: 30 }, { executionName: 'run-7' });

    const task = await takeTask(agent, 'agent-on-prem-1');
    await agent.send(new SendTaskHeartbeatCommand({ taskToken: task.taskToken }));
    await agent.send(
      new SendTaskSuccessCommand({ taskToken: task.taskToken, output: JSON.stringify({ targetDisks: ['disk-1'] }) }),
    );

    expect(task.input).toEqual({ operation: 'PrepareTarget', runId: 'run-7', disks: ['vol-1'] });
    expect(await execution.result).toEqual({
      disks: ['vol-1'],
      timeoutSeconds: 30,
      prepared: { targetDisks: ['disk-1'] },
    });
    expect(ofType(execution.history, 'ActivityScheduled')).toHaveLength(1);
    const types = execution.history.map((event) => event.type);
    expect(types.indexOf('ActivityScheduled')).toBeLessThan(types.indexOf('ActivityStarted'));
    expect(ofType(execution.history, 'ActivityStarted')[0]).toMatchObject({
      stateName: 'PrepareOnPremTarget',
      workerName: 'agent-on-prem-1',
    });
  });

  it('routes a SendTaskFailure with a named error to the Catch for that error', async () => {
    const { machine, worker } = await setUp();
    const agent = worker();
    const execution = machine.run({ disks: ['vol-1'], timeoutSeconds: 30 });

    const task = await takeTask(agent, 'agent');
    await agent.send(
      new SendTaskFailureCommand({ taskToken: task.taskToken, error: 'OnPremTargetError', cause: 'datastore full' }),
    );

    expect(await execution.result).toMatchObject({
      error: { Error: 'OnPremTargetError', Cause: 'datastore full' },
      rollback: { rolledBack: true },
    });
  });

  it('fails a task whose worker stops heartbeating with States.HeartbeatTimeout, retried once, then caught', async () => {
    const { machine, worker } = await setUp({ heartbeatMs: 250 });
    const agent = worker();
    const execution = machine.run({ disks: ['vol-1'], timeoutSeconds: 30 });

    // The worker takes both attempts and goes silent each time.
    const first = await takeTask(agent, 'agent');
    const second = await takeTask(agent, 'agent');
    const output = await execution.result;

    expect(second.taskToken).not.toBe(first.taskToken);
    // The definition's Catch names States.Timeout, which on AWS also covers a missed heartbeat.
    expect(output).toMatchObject({ error: { Error: 'States.HeartbeatTimeout' }, report: { timedOut: true } });
    expect(ofType(execution.history, 'StateRetried')).toHaveLength(1);
    await expect(
      agent.send(new SendTaskSuccessCommand({ taskToken: first.taskToken, output: '{}' })),
    ).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('times out with States.Timeout when no worker polls, takes the task off the queue and refuses its token', async () => {
    const { machine, queues, worker } = await setUp({ heartbeatMs: 100 });
    const latecomer = worker();
    const execution = machine.run({ disks: ['vol-1'], timeoutSeconds: 1 });
    const scheduled = await queues.taskTokens.waitForTask({ stateName: 'PrepareOnPremTarget' });

    const output = await execution.result;

    // Nobody took it, so HeartbeatSeconds (100 ms here) never started counting: only TimeoutSeconds ended it.
    expect(output).toMatchObject({ error: { Error: 'States.Timeout' }, report: { timedOut: true } });
    expect(ofType(execution.history, 'StateRetried')).toHaveLength(0);
    expect(queues.queuedCount(AGENT)).toBe(0);
    const poll = await latecomer.send(new GetActivityTaskCommand({ activityArn: AGENT }));
    expect(poll.taskToken).toBeUndefined();
    await expect(
      latecomer.send(new SendTaskSuccessCommand({ taskToken: scheduled.taskToken, output: '{}' })),
    ).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('retries a missed heartbeat with a fresh task that a new worker completes, as a restarted agent would', async () => {
    const { machine, worker } = await setUp({ heartbeatMs: 300 });
    const killed = worker();
    const execution = machine.run({ disks: ['vol-1'], timeoutSeconds: 30 }, { executionName: 'run-9' });
    const lost = await takeTask(killed, 'agent-pid-100');
    await killed.send(new SendTaskHeartbeatCommand({ taskToken: lost.taskToken }));
    // …SIGKILL: no more heartbeats from that process.

    const restarted = worker();
    const fresh = await takeTask(restarted, 'agent-pid-200');
    await restarted.send(new SendTaskSuccessCommand({ taskToken: fresh.taskToken, output: '{"resumed":true}' }));

    expect(fresh.taskToken).not.toBe(lost.taskToken);
    expect(fresh.input).toEqual(lost.input);
    expect(await execution.result).toMatchObject({ prepared: { resumed: true } });
    expect(ofType(execution.history, 'ActivityStarted').map((e) => e.workerName)).toEqual([
      'agent-pid-100',
      'agent-pid-200',
    ]);
    await expect(killed.send(new SendTaskHeartbeatCommand({ taskToken: lost.taskToken }))).rejects.toBeInstanceOf(
      TaskTimedOut,
    );
  });

  it('reads HeartbeatSecondsPath from the state input and keeps the runner key out of the worker input', async () => {
    const { queues, worker } = await setUp();
    const machine = LocalStateMachine.load({
      definition: heartbeatPathMachine({ Parameters: { 'runId.$': '$.runId' } }),
      handlers: {},
      activities: { AgentActivityArn: AGENT },
      activityQueues: queues,
    });
    const agent = worker();
    const before = Date.now();
    const execution = machine.run({ runId: 'run-3', heartbeatSeconds: 1 });

    const task = await takeTask(agent, 'agent');
    const output = await execution.result;

    expect(task.input).toEqual({ runId: 'run-3' });
    expect(output).toMatchObject({ error: { Error: 'States.HeartbeatTimeout' } });
    expect(Date.now() - before).toBeGreaterThanOrEqual(900);
  });

  it('takes an unclaimed task off the queue when the execution is aborted', async () => {
    const { machine, queues } = await setUp();
    const execution = machine.run({ disks: ['vol-1'], timeoutSeconds: 30 });
    await queues.taskTokens.waitForTask({ stateName: 'PrepareOnPremTarget' });
    expect(queues.queuedCount(AGENT)).toBe(1);

    execution.abort();
    await execution.result.catch(() => undefined);

    expect(queues.queuedCount(AGENT)).toBe(0);
  });
});

describe('Activity Task bindings', () => {
  it('warns that HeartbeatSeconds is ignored only for Tasks that are not activities', async () => {
    const { machine } = await setUp();

    expect(machine.warnings.filter((w) => w.includes('HeartbeatSeconds'))).toEqual([
      'state "Announce": HeartbeatSeconds is ignored locally (no heartbeat timeout)',
    ]);
  });

  it('makes the bound activity known to the queues, so workers can poll it before any execution', () => {
    const queues = new ActivityQueues();
    LocalStateMachine.load({
      definition: fixture('activities.asl.json'),
      handlers: { AnnounceFunctionArn: async () => ({}) },
      activities: { AgentActivityArn: 'arn:aws:states:eu-west-1:123456789012:activity:homebound-agent' },
      activityQueues: queues,
    });

    expect(queues.describeActivity('arn:aws:states:eu-west-1:123456789012:activity:homebound-agent').name).toBe(
      'homebound-agent',
    );
  });

  it('refuses heartbeatOverrides for a state that is not an activity Task, and a foreign task-token registry', () => {
    const load = (extra: object) =>
      LocalStateMachine.load({
        definition: fixture('activities.asl.json'),
        handlers: { AnnounceFunctionArn: async () => ({}) },
        activities: { AgentActivityArn: AGENT },
        activityQueues: new ActivityQueues(),
        ...extra,
      });

    expect(() => load({ heartbeatOverrides: { Announce: 10 } })).toThrow(InvalidRunnerOptionsError);
    expect(() => load({ definition: heartbeatPathMachine({}), handlers: {}, heartbeatOverrides: undefined })).toThrow(
      HeartbeatPathNotSupportedError,
    );
    expect(() => load({ taskTokens: new ActivityQueues().taskTokens })).toThrow(InvalidRunnerOptionsError);
  });
});
