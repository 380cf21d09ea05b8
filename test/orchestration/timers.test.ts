import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, it } from 'vitest';
import {
  ExecutionFailedError,
  ExecutionTimedOutError,
  LocalStateMachine,
  type TaskContext,
  TaskTimedOutError,
} from '../../core/orchestration/local-runner.js';
import { fixture, placeholder } from './fixture.js';

/** Resolves after `ms` unless the signal aborts first. */
async function work(ms: number, signal: AbortSignal): Promise<string> {
  await sleep(ms, undefined, { signal });
  return 'done';
}

class TransientStorageError extends Error {
  override name = 'TransientStorageError';
}

const hangingTasks: TaskContext[] = [];
const approvalRequests: TaskContext[] = [];
const syncSignals: AbortSignal[] = [];
const copyAttemptsAt: number[] = [];
let timeoutsMachine: LocalStateMachine;
let approvalMachine: LocalStateMachine;
let executionTimeoutMachine: LocalStateMachine;
let backoffMachine: LocalStateMachine;

// Loading is synchronous and the first validation of a definition takes a few hundred milliseconds, so every machine
// is loaded before the tests below start measuring real timers side by side.
beforeAll(() => {
  timeoutsMachine = LocalStateMachine.load({
    definition: fixture('timeouts.asl.json'),
    handlers: {
      // 1.1 s fits the 2 s timeout of its state, and would not fit the 1 s of the other one.
      SlowFunctionArn: async (_input, { signal }) => work(1100, signal),
      HangingFunctionArn: async (_input, context) => {
        hangingTasks.push(context);
        return work(10_000, context.signal);
      },
    },
  });
  approvalMachine = LocalStateMachine.load({
    definition: fixture('approval.asl.json'),
    handlers: {
      RequestApprovalFunctionArn: async (_input, context) => {
        approvalRequests.push(context);
      },
      CutoverFunctionArn: async () => 'unused',
      RestartTakeoverHostsFunctionArn: async () => 'unused',
    },
  });
  executionTimeoutMachine = LocalStateMachine.load({
    definition: {
      TimeoutSeconds: 1,
      StartAt: 'Sync',
      States: { Sync: { Type: 'Task', Resource: placeholder('SyncFunctionArn'), TimeoutSeconds: 60, End: true } },
    },
    handlers: {
      SyncFunctionArn: (_input, { signal }) => {
        syncSignals.push(signal);
        return new Promise(() => {});
      },
    },
  });
  backoffMachine = LocalStateMachine.load({
    definition: {
      StartAt: 'Copy',
      States: {
        Copy: {
          Type: 'Task',
          Resource: placeholder('CopyVolumeFunctionArn'),
          TimeoutSeconds: 5,
          Retry: [{ ErrorEquals: ['TransientStorageError'], IntervalSeconds: 1, BackoffRate: 1.5, MaxAttempts: 2 }],
          End: true,
        },
      },
    },
    handlers: {
      CopyVolumeFunctionArn: async () => {
        copyAttemptsAt.push(performance.now());
        if (copyAttemptsAt.length < 3) throw new TransientStorageError('503');
        return 'copied';
      },
    },
  });
});

// These tests wait on real timers; running them side by side keeps the suite fast.
describe.concurrent('timers the local runner honours', () => {
  it('ends each Task at its own TimeoutSeconds with States.Timeout, which States.TaskFailed does not catch', async ({
    expect,
  }) => {
    const started = performance.now();
    const output = await timeoutsMachine.run({}).result;
    const elapsed = performance.now() - started;

    expect(output).toEqual({ first: 'done', timeout: { Error: 'States.Timeout', Cause: 'States.Timeout' } });
    expect(elapsed).toBeGreaterThanOrEqual(2050);
    expect(elapsed).toBeLessThan(3000);
    expect(hangingTasks[0]?.signal.aborted).toBe(true);
  });

  it('ends a waitForTaskToken Task at its TimeoutSeconds and refuses the late token', async ({ expect }) => {
    const approval = approvalMachine;
    const started = performance.now();
    const execution = approval.run({ hosts: [] });
    const waiting = await approval.taskTokens.waitForTask();
    const failure = await execution.result.catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ExecutionFailedError);
    expect(failure).toMatchObject({ error: 'States.Timeout' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(approvalRequests[0]?.signal.aborted).toBe(true);
    expect(() => approval.taskTokens.sendTaskSuccess(waiting.taskToken, {})).toThrow(TaskTimedOutError);
  });

  it("ends the execution at the machine's TimeoutSeconds and aborts the running handler", async ({ expect }) => {
    const execution = executionTimeoutMachine.run({});

    await expect(execution.result).rejects.toBeInstanceOf(ExecutionTimedOutError);
    expect(syncSignals[0]?.aborted).toBe(true);
    expect(execution.history.at(-1)?.type).toBe('ExecutionTimedOut');
  });

  it('waits IntervalSeconds × BackoffRate^n between retries when not overridden', async ({ expect }) => {
    expect(await backoffMachine.run({}).result).toBe('copied');

    const [first = 0, second = 0, third = 0] = copyAttemptsAt;
    expect(copyAttemptsAt).toHaveLength(3);
    expect(second - first).toBeGreaterThanOrEqual(990);
    expect(second - first).toBeLessThan(1400);
    // BackoffRate 1.5: the second pause is 1.5 s (it would be 2 s at the default rate of 2).
    expect(third - second).toBeGreaterThanOrEqual(1490);
    expect(third - second).toBeLessThan(1900);
  });
});
