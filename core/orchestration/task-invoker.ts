import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { TaskFailedError } from './errors.js';
import { isJsonObject, type JsonValue, jsonByteLength, jsonCopy } from './json.js';
import { fillTaskToken, TIMEOUT_SECONDS_KEY } from './prepare-definition.js';
import type { LocalRunEvent } from './run-events.js';
import type { BoundTask } from './task-bindings.js';
import { createTaskToken, type TaskTokenRegistry } from './task-tokens.js';

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

/** What the invoker needs from the execution it serves. */
export interface InvocationScope {
  readonly executionName: string;
  /** Aborted when the execution ends or is aborted. */
  readonly executionSignal: AbortSignal;
  readonly taskTokens: TaskTokenRegistry;
  readonly emit: (event: LocalRunEvent) => void;
}

/** Step Functions' per-state payload quota. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

/** A handler failure as the library must see it: `name` is what Retry/Catch match, `message` the Cause. */
class StatesTaskError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** A failure that neither Retry nor Catch may act on; the library reads these two getters by duck typing. */
class TerminalStatesError extends StatesTaskError {
  get isRetryable(): boolean {
    return false;
  }
  get isCatchable(): boolean {
    return false;
  }
}

/** Maps a thrown value to the error Step Functions would report, with a Lambda-style JSON cause. */
function toStatesError(thrown: unknown): Error {
  if (thrown instanceof StatesTaskError || thrown instanceof TaskFailedError) return thrown;
  const error = thrown instanceof Error ? thrown : new Error(String(thrown));
  // Lambda's Node runtime reports { errorType, errorMessage, trace }; the trace is left out to keep causes readable.
  return new StatesTaskError(error.name, JSON.stringify({ errorType: error.name, errorMessage: error.message }));
}

function checkedOutput(value: unknown): JsonValue {
  let output: JsonValue;
  try {
    output = jsonCopy(value, 'the task result');
  } catch (error) {
    throw new TerminalStatesError('States.Runtime', error instanceof Error ? error.message : String(error));
  }
  if (jsonByteLength(output) > MAX_PAYLOAD_BYTES) {
    throw new TerminalStatesError(
      'States.DataLimitExceeded',
      `the task result is larger than the ${MAX_PAYLOAD_BYTES}-byte Step Functions payload quota`,
    );
  }
  return output;
}

/**
 * One invocation's lifetime, started synchronously when the library calls us, so that our timer is set just before
 * the library's own timer for the same TimeoutSeconds. It ends by the task's timeout or by the end of the execution.
 * After a timeout the invocation stays pending on purpose: the library's timer must be the one to report
 * `States.Timeout`, because only its own error class keeps States.TaskFailed from matching a timeout.
 */
class Invocation {
  readonly controller = new AbortController();
  private timedOut = false;
  private readonly deadline: number;
  private readonly timer: NodeJS.Timeout;
  private readonly onExecutionEnd = () => {
    // Whichever timer fired first, a task that reached its deadline timed out.
    if (performance.now() >= this.deadline) this.expire();
    this.controller.abort(new Error('the execution ended'));
  };

  constructor(
    private readonly scope: InvocationScope,
    private readonly timeoutSeconds: number,
    private readonly onTimeout: () => void = () => {},
  ) {
    this.deadline = performance.now() + timeoutSeconds * 1000;
    scope.executionSignal.addEventListener('abort', this.onExecutionEnd, { once: true });
    this.timer = setTimeout(() => this.expire(), timeoutSeconds * 1000);
    // The library holds its own referenced timer for as long; ours must not keep the process alive after it.
    this.timer.unref();
  }

  /**
   * Starts `work` unless the execution has already ended, and settles like it unless aborted first: after a timeout
   * it stays pending, after the end of the execution it rejects with an error no Retry or Catch acts on.
   */
  run<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = this.controller.signal;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.dispose();
        if (!this.timedOut) reject(new TerminalStatesError('States.Runtime', 'the execution has ended'));
      };
      // A Retry scheduled before an abort must not call the handler again.
      if (signal.aborted || this.scope.executionSignal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      work(signal).then(
        (value) => {
          if (signal.aborted) return;
          this.dispose();
          resolve(value);
        },
        (error: unknown) => {
          if (signal.aborted) return;
          this.dispose();
          reject(error);
        },
      );
    });
  }

  private expire(): void {
    if (this.timedOut) return;
    this.timedOut = true;
    this.onTimeout();
    this.controller.abort(new Error(`TimeoutSeconds (${this.timeoutSeconds} s) elapsed`));
  }

  private dispose(): void {
    clearTimeout(this.timer);
    this.scope.executionSignal.removeEventListener('abort', this.onExecutionEnd);
  }
}

function handlerInputOf(task: BoundTask, resolvedInput: JsonValue): JsonValue {
  const effectiveInput = withoutRunnerKeys(resolvedInput);
  if (task.integration !== 'lambda-invoke') return effectiveInput;
  // lambda:invoke delivers Parameters.Payload to the function; without one, we hand it an empty event.
  return isJsonObject(effectiveInput) && effectiveInput.Payload !== undefined ? effectiveInput.Payload : {};
}

function withoutRunnerKeys(input: JsonValue): JsonValue {
  if (!isJsonObject(input) || !Object.hasOwn(input, TIMEOUT_SECONDS_KEY)) return input;
  const { [TIMEOUT_SECONDS_KEY]: _timeout, ...rest } = input;
  return rest;
}

/**
 * Builds the function the library calls for one bound Task in one execution.
 * Request-response tasks resolve with the handler's result (wrapped as `{ ExecutedVersion, Payload, StatusCode }`
 * for lambda:invoke, like AWS minus the SDK metadata). .waitForTaskToken tasks open a fresh token per invocation,
 * call the handler with it, and resolve with what sendTaskSuccess sends.
 * Results over 256 KiB fail with States.DataLimitExceeded, which no Retry or Catch handles.
 */
export function createTaskInvoker(task: BoundTask, scope: InvocationScope): (input: JsonValue) => Promise<JsonValue> {
  return task.waitForTaskToken ? (input) => invokeWithToken(task, scope, input) : (input) => invoke(task, scope, input);
}

async function invoke(task: BoundTask, scope: InvocationScope, effectiveInput: JsonValue): Promise<JsonValue> {
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

async function invokeWithToken(task: BoundTask, scope: InvocationScope, effectiveInput: JsonValue): Promise<JsonValue> {
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
  task: BoundTask,
  scope: InvocationScope,
  effectiveInput: JsonValue,
  taskToken: string,
  signal: AbortSignal,
): Promise<JsonValue> {
  const input = fillTaskToken(handlerInputOf(task, effectiveInput), taskToken);
  const { executionName } = scope;
  const completion = scope.taskTokens.openTask({ taskToken, executionName, stateName: task.stateName, input });
  scope.emit({ type: 'TaskTokenIssued', timestamp: Date.now(), executionName, stateName: task.stateName });
  const context: TaskContext = { stateName: task.stateName, executionName, taskToken, signal };
  // On AWS the function's own failure fails the task; its return value does not complete it.
  const handlerFailure = (async () => task.handler(jsonCopy(input, 'the task input'), context))().then(
    () => new Promise<never>(() => {}),
  );
  return Promise.race([completion, handlerFailure]);
}
