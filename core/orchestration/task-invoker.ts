import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { invokeActivity } from './activity-invoker.js';
import { HeartbeatClock, heartbeatTimeoutError } from './heartbeat-clock.js';
import { checkedOutput, heartbeatMsOf, Invocation, type InvocationScope, toStatesError } from './invocation.js';
import { isJsonObject, type JsonValue, jsonCopy } from './json.js';
import { fillTaskToken, withoutRunnerKeys } from './prepare-definition.js';
import type { BoundTask, HandlerTask } from './task-bindings.js';
import { createTaskToken } from './task-tokens.js';

export { type InvocationScope, MAX_PAYLOAD_BYTES } from './invocation.js';

/** What a local handler learns about the invocation besides its input. */
export interface TaskContext {
  readonly stateName: string;
  readonly executionName: string;
  /** Set for .waitForTaskToken Tasks: the token to complete through the TaskTokenRegistry. */
  readonly taskToken?: string;
  /** Aborted when the task times out, the execution ends, or the run is aborted. */
  readonly signal: AbortSignal;
}

/**
 * A local stand-in for the function behind a Task. Receives the input AWS would deliver (for lambda:invoke, the
 * resolved `Payload`) as a JSON copy; its return value is copied through JSON too. Throw an error whose `name` is the
 * Step Functions error name (as Lambda reports `errorType`), or a TaskFailedError to choose error and cause verbatim.
 * For .waitForTaskToken Tasks the return value is ignored, as on AWS: the task's output comes from sendTaskSuccess.
 */
export type TaskHandler = (input: JsonValue, context: TaskContext) => unknown;

function handlerInputOf(task: BoundTask, resolvedInput: JsonValue): JsonValue {
  const effectiveInput = withoutRunnerKeys(resolvedInput);
  if (task.integration !== 'lambda-invoke') return effectiveInput;
  // lambda:invoke delivers Parameters.Payload to the function; without one, we hand it an empty event.
  return isJsonObject(effectiveInput) && effectiveInput.Payload !== undefined ? effectiveInput.Payload : {};
}

/**
 * Builds the function the library calls for one bound Task in one execution.
 * Request-response tasks resolve with the handler's result (wrapped as `{ ExecutedVersion, Payload, StatusCode }`
 * for lambda:invoke, like AWS minus the SDK metadata). .waitForTaskToken tasks open a fresh token per invocation,
 * call the handler with it, and resolve with what sendTaskSuccess sends.
 * Results over 256 KiB fail with States.DataLimitExceeded, which no Retry or Catch handles.
 */
export function createTaskInvoker(task: BoundTask, scope: InvocationScope): (input: JsonValue) => Promise<JsonValue> {
  if (task.activityArn !== undefined) return (input) => invokeActivity(task, scope, input);
  return task.waitForTaskToken ? (input) => invokeWithToken(task, scope, input) : (input) => invoke(task, scope, input);
}

async function invoke(task: HandlerTask, scope: InvocationScope, effectiveInput: JsonValue): Promise<JsonValue> {
  const invocation = new Invocation(scope, task.timeoutSeconds);
  let result: unknown;
  try {
    result = await invocation.run(async (signal) => {
      const context: TaskContext = { stateName: task.stateName, executionName: scope.executionName, signal };
      return task.handler(jsonCopy(handlerInputOf(task, effectiveInput), 'the task input'), context);
    });
  } catch (error) {
    throw toStatesError(error);
  }
  const output = checkedOutput(result);
  return task.integration === 'lambda-invoke'
    ? { ExecutedVersion: '$LATEST', Payload: output, StatusCode: 200 }
    : output;
}

async function invokeWithToken(
  task: HandlerTask,
  scope: InvocationScope,
  effectiveInput: JsonValue,
): Promise<JsonValue> {
  const taskToken = createTaskToken();
  const invocation = new Invocation(scope, task.timeoutSeconds, () => scope.taskTokens.close(taskToken, 'timed-out'));
  // The library reports StateEntered through an async generator; yielding one macrotask lets that event reach
  // listeners before TaskTokenIssued, so progress displays see them in order.
  await nextMacrotask();
  try {
    return checkedOutput(
      await invocation.run((signal) => awaitTaskToken(task, scope, effectiveInput, taskToken, signal)),
    );
  } catch (error) {
    throw toStatesError(error);
  } finally {
    scope.taskTokens.close(taskToken, 'done');
  }
}

async function awaitTaskToken(
  task: HandlerTask,
  scope: InvocationScope,
  effectiveInput: JsonValue,
  taskToken: string,
  signal: AbortSignal,
): Promise<JsonValue> {
  const input = fillTaskToken(handlerInputOf(task, effectiveInput), taskToken);
  const { executionName } = scope;
  // A callback task is in its worker's hands from the start, so its heartbeat window starts with it (as on AWS).
  const heartbeatMs = heartbeatMsOf(task, scope, effectiveInput);
  const heartbeat = new HeartbeatClock(heartbeatMs, () =>
    scope.taskTokens.timeOut(taskToken, heartbeatTimeoutError(heartbeatMs)),
  );
  const completion = scope.taskTokens.openTask(
    { taskToken, executionName, stateName: task.stateName, input },
    { onHeartbeat: () => heartbeat.beat() },
  );
  heartbeat.start();
  const stopHeartbeat = () => heartbeat.stop();
  completion.then(stopHeartbeat, stopHeartbeat);
  signal.addEventListener('abort', stopHeartbeat, { once: true });
  scope.emit({ type: 'TaskTokenIssued', timestamp: Date.now(), executionName, stateName: task.stateName });
  const context: TaskContext = { stateName: task.stateName, executionName, taskToken, signal };
  // On AWS the function's own failure fails the task; its return value does not complete it.
  const handlerFailure = (async () => task.handler(jsonCopy(input, 'the task input'), context))().then(
    () => new Promise<never>(() => {}),
  );
  return Promise.race([completion, handlerFailure]);
}
