import { createServer } from 'node:net';
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterEach, describe, expect, it } from 'vitest';
import { runActivityWorker, type WorkerEvent } from '../../core/agent/activity-worker.js';
import { ActivityServer, LOCAL_CREDENTIALS, LOCAL_REGION } from '../../core/localcloud/index.js';
import { ActivityQueues, localActivityArn } from '../../core/orchestration/activity-queues.js';

const AGENT = localActivityArn('homebound-agent');

/** A port nobody listens on (yet). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function startWorker(
  endpoint: string,
  work: (input: string, signal: AbortSignal) => Promise<Record<string, unknown>>,
  heartbeatSeconds = 0.2,
  activityArn = AGENT,
) {
  const client = new SFNClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: { ...LOCAL_CREDENTIALS },
    maxAttempts: 1,
  });
  const stop = new AbortController();
  const events: WorkerEvent[] = [];
  const done = runActivityWorker({
    client,
    activityArn,
    workerName: 'test-agent',
    heartbeatSeconds,
    maxConcurrentTasks: 2,
    work,
    signal: stop.signal,
    backoffMs: 50,
    maxBackoffMs: 200,
    onEvent: (event) => events.push(event),
  });
  cleanups.push(async () => {
    stop.abort();
    await done.catch(() => undefined);
    client.destroy();
  });
  return { events, stop, done };
}

async function startServer(port = 0) {
  const activities = new ActivityQueues();
  activities.createActivity('homebound-agent');
  const server = await ActivityServer.start({ activities, credentials: LOCAL_CREDENTIALS, pollWaitMs: 300, port });
  cleanups.push(() => server.close());
  return { activities, server };
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

describe('activity worker', () => {
  it('keeps polling through network errors and works the task once the service is reachable', async () => {
    const port = await freePort();
    const { events } = startWorker(`http://127.0.0.1:${port}`, async (input) => ({ echoed: JSON.parse(input) }));
    await new Promise((resolve) => setTimeout(resolve, 400));
    const failedPolls = events.filter((event) => event.type === 'poll-failed').length;

    const { activities } = await startServer(port);
    const task = schedule(activities, { operation: 'Verify', runId: 'run-1' });

    await expect(task.completion).resolves.toEqual({ echoed: { operation: 'Verify', runId: 'run-1' } });
    expect(failedPolls).toBeGreaterThanOrEqual(2);
  });

  it('heartbeats while a task runs longer than HeartbeatSeconds, then sends its result', async () => {
    const { activities, server } = await startServer();
    startWorker(server.endpoint, async () => {
      await new Promise((resolve) => setTimeout(resolve, 900));
      return { done: true };
    });

    // 400 ms of heartbeat timeout: only the worker's beats (every 200 ms) keep a 900 ms task alive.
    const task = schedule(activities, { operation: 'VerificationBoot', runId: 'run-1' }, 400);

    await expect(task.completion).resolves.toEqual({ done: true });
  });

  it('answers a failure with the error class name and its message', async () => {
    class VmPowerOnError extends Error {
      override name = 'VmPowerOnError';
    }
    const { activities, server } = await startServer();
    startWorker(server.endpoint, async () => {
      throw new VmPowerOnError('vm-7 refused to power on');
    });

    const task = schedule(activities, { operation: 'Cutover', runId: 'run-1' });

    await expect(task.completion).rejects.toMatchObject({ name: 'VmPowerOnError', cause: 'vm-7 refused to power on' });
  });

  it('aborts the work when a heartbeat is answered TaskTimedOut, and sends nothing after', async () => {
    const { activities, server } = await startServer();
    let reason: unknown;
    const { events } = startWorker(
      server.endpoint,
      (_input, signal) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            reject(signal.reason);
          });
        }),
      0.3,
    );

    // The state gives up after 100 ms without a heartbeat; the worker's first beat comes at 300 ms.
    const task = schedule(activities, { operation: 'VerificationBoot', runId: 'run-9' }, 100);
    const failure = await task.completion.catch((error: unknown) => error);
    const deadline = Date.now() + 5_000;
    while (!events.some((event) => event.type === 'task-abandoned') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    expect(failure).toMatchObject({ name: 'States.HeartbeatTimeout' });
    expect(reason).toMatchObject({ name: 'TaskTimedOut' });
    expect(events).toContainEqual({
      type: 'task-abandoned',
      operation: 'VerificationBoot',
      runId: 'run-9',
      reason: 'TaskTimedOut',
    });
    expect(events.some((event) => event.type === 'task-failed' || event.type === 'answer-failed')).toBe(false);
  });

  it('answers a task in flight with AgentStoppedError when stopped, and resolves', async () => {
    const { activities, server } = await startServer();
    const { events, stop, done } = startWorker(
      server.endpoint,
      (_input, signal) =>
        new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    );
    const task = schedule(activities, { operation: 'PrepareTarget', runId: 'run-2' });
    while (!events.some((event) => event.type === 'task-started')) await new Promise((r) => setTimeout(r, 10));

    stop.abort();
    await done;

    await expect(task.completion).rejects.toMatchObject({ name: 'AgentStoppedError' });
  });

  it('stops with ActivityNotFoundError when the activity does not exist, instead of polling forever', async () => {
    const { server } = await startServer();
    const { done } = startWorker(server.endpoint, async () => ({}), 0.2, localActivityArn('no-such-activity'));

    await expect(done).rejects.toMatchObject({ name: 'ActivityNotFoundError' });
  });
});
