import { describe, expect, it } from 'vitest';
import {
  ExecutionAbortedError,
  type JsonValue,
  LocalStateMachine,
  type TaskContext,
  TaskDoesNotExistError,
  TaskTimedOutError,
  TaskTokenRegistry,
} from '../../core/orchestration/local-runner.js';
import { fixture, placeholder } from './fixture.js';

function loadApproval(taskTokens = new TaskTokenRegistry()) {
  const approvalRequests: { input: JsonValue; context: TaskContext }[] = [];
  const cutovers: JsonValue[] = [];
  const restarts: JsonValue[] = [];
  const machine = LocalStateMachine.load({
    definition: fixture('approval.asl.json'),
    taskTokens,
    handlers: {
      // Like the Lambda that mails the approval link: it gets the token and returns; its result is ignored.
      RequestApprovalFunctionArn: async (input, context) => {
        approvalRequests.push({ input, context });
        return { mailed: true };
      },
      CutoverFunctionArn: async (input) => {
        cutovers.push(input);
        return { cutover: true };
      },
      RestartTakeoverHostsFunctionArn: async (input) => {
        restarts.push(input);
        return { restarted: true };
      },
    },
  });
  return { machine, approvalRequests, cutovers, restarts, taskTokens };
}

describe('waitForTaskToken emulation', () => {
  it('gives the handler a fresh opaque token in the resolved Payload and continues with the sendTaskSuccess output', async () => {
    const { machine, approvalRequests, cutovers, taskTokens } = loadApproval();

    const execution = machine.run({ hosts: ['i-1'] }, { executionName: 'failback-42' });
    const waiting = await taskTokens.waitForTask({ stateName: 'WaitForApproval' });
    taskTokens.sendTaskSuccess(waiting.taskToken, { approved: true, by: 'ops@example.com' });

    expect(await execution.result).toEqual({ cutover: true });
    const [request] = approvalRequests;
    expect(request?.context.taskToken).toBe(waiting.taskToken);
    expect(waiting.taskToken).toMatch(/^[A-Za-z0-9_-]{64,}$/);
    expect(request?.input).toEqual({ taskToken: waiting.taskToken, runId: 'failback-42', hosts: ['i-1'] });
    expect(cutovers).toEqual([{ hosts: ['i-1'], approval: { approved: true, by: 'ops@example.com' } }]);
  });

  it('issues a different token to every invocation', async () => {
    const { machine, taskTokens } = loadApproval();
    const tokens: string[] = [];
    const unsubscribe = taskTokens.onIssued((task) => {
      tokens.push(task.taskToken);
      taskTokens.sendTaskSuccess(task.taskToken, { approved: true });
    });

    await Promise.all([machine.run({ hosts: [] }).result, machine.run({ hosts: [] }).result]);
    unsubscribe();

    expect(tokens).toHaveLength(2);
    expect(new Set(tokens).size).toBe(2);
  });

  it('fails into Catch with the error name and cause given to sendTaskFailure', async () => {
    const { machine, restarts, cutovers, taskTokens } = loadApproval();

    const execution = machine.run({ hosts: ['i-1'] });
    const waiting = await taskTokens.waitForTask();
    taskTokens.sendTaskFailure(waiting.taskToken, 'ApprovalRejected', 'rejected by ops@example.com');

    expect(await execution.result).toEqual({ restarted: true });
    expect(cutovers).toEqual([]);
    expect(restarts).toEqual([
      { hosts: ['i-1'], rejection: { Error: 'ApprovalRejected', Cause: 'rejected by ops@example.com' } },
    ]);
  });

  it('fails the execution with an uncaught error name from sendTaskFailure', async () => {
    const { machine, taskTokens } = loadApproval();
    const execution = machine.run({ hosts: [] });
    taskTokens.sendTaskFailure((await taskTokens.waitForTask()).taskToken, 'ApprovalWithdrawn', 'by the requester');

    await expect(execution.result).rejects.toMatchObject({ error: 'ApprovalWithdrawn', cause: 'by the requester' });
  });

  it('answers an unknown or already used token like SFN does', async () => {
    const { machine, taskTokens } = loadApproval();
    expect(() => taskTokens.sendTaskSuccess('not-a-token', {})).toThrow(TaskDoesNotExistError);

    const execution = machine.run({ hosts: [] });
    const { taskToken } = await taskTokens.waitForTask();
    taskTokens.sendTaskSuccess(taskToken, { approved: true });
    await execution.result;

    expect(() => taskTokens.sendTaskSuccess(taskToken, {})).toThrow(TaskDoesNotExistError);
    expect(() => taskTokens.sendTaskHeartbeat(taskToken)).toThrow(TaskDoesNotExistError);
  });

  it('emits TaskTokenIssued after the state was entered, and lists the task as pending until it completes', async () => {
    const { machine, taskTokens } = loadApproval();
    const execution = machine.run({ hosts: [] }, { executionName: 'events-1' });
    const waiting = await taskTokens.waitForTask();

    expect(taskTokens.pending().map((t) => [t.executionName, t.stateName])).toEqual([['events-1', 'WaitForApproval']]);
    taskTokens.sendTaskHeartbeat(waiting.taskToken);
    taskTokens.sendTaskSuccess(waiting.taskToken, { approved: true });
    await execution.result;

    expect(taskTokens.pending()).toEqual([]);
    const types = execution.history.map((e) => e.type);
    expect(types.indexOf('TaskTokenIssued')).toBe(types.indexOf('StateEntered') + 1);
  });

  it('aborts a run that waits for a token: the result rejects and the token is closed', async () => {
    const { machine, approvalRequests, taskTokens } = loadApproval();
    const execution = machine.run({ hosts: [] });
    const { taskToken } = await taskTokens.waitForTask();

    execution.abort();

    await expect(execution.result).rejects.toBeInstanceOf(ExecutionAbortedError);
    expect(approvalRequests[0]?.context.signal.aborted).toBe(true);
    expect(() => taskTokens.sendTaskSuccess(taskToken, {})).toThrow(TaskDoesNotExistError);
  });
});

describe('HeartbeatSeconds of a waitForTaskToken Task', () => {
  /** A callback Task whose token holder must heartbeat; a missed heartbeat is caught. */
  const callbackMachine = {
    StartAt: 'AwaitCallback',
    States: {
      AwaitCallback: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
        Parameters: { FunctionName: placeholder('NotifyFunctionArn'), Payload: { 'token.$': '$$.Task.Token' } },
        TimeoutSeconds: 30,
        HeartbeatSeconds: 60,
        Catch: [{ ErrorEquals: ['States.HeartbeatTimeout'], ResultPath: '$.error', Next: 'Missed' }],
        End: true,
      },
      Missed: { Type: 'Succeed' },
    },
  };
  const load = () =>
    LocalStateMachine.load({
      definition: callbackMachine,
      handlers: { NotifyFunctionArn: async () => ({}) },
      heartbeatOverrides: { AwaitCallback: 250 },
    });

  it('keeps the task open while heartbeats come, from the start of the task', async () => {
    const machine = load();
    const execution = machine.run({});
    const { taskToken } = await machine.taskTokens.waitForTask();
    for (let beat = 0; beat < 4; beat += 1) {
      await new Promise((resolve) => setTimeout(resolve, 120));
      machine.taskTokens.sendTaskHeartbeat(taskToken);
    }

    machine.taskTokens.sendTaskSuccess(taskToken, { done: true });

    expect(await execution.result).toEqual({ done: true });
    expect(machine.warnings).toEqual([]);
  });

  it('fails the task with States.HeartbeatTimeout when the token holder goes silent; the token then times out', async () => {
    const machine = load();
    const execution = machine.run({});
    const { taskToken } = await machine.taskTokens.waitForTask();

    const output = await execution.result;

    expect(output).toMatchObject({ error: { Error: 'States.HeartbeatTimeout' } });
    expect(() => machine.taskTokens.sendTaskSuccess(taskToken, {})).toThrow(TaskTimedOutError);
  });
});
