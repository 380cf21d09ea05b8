/**
 * The lifetime of one task invocation (timeout, end of the execution) and how its outcome reaches the library:
 * Step Functions error names, terminal errors, the payload quota. Shared by the Lambda-style, .waitForTaskToken and
 * Activity Task invokers.
 */
import type { ActivityQueues } from './activity-queues.js';
import { TaskFailedError } from './errors.js';
import { isJsonObject, type JsonValue, jsonByteLength, jsonCopy } from './json.js';
import { currentLibraryRun } from './library-runs.js';
import { HEARTBEAT_SECONDS_KEY } from './prepare-definition.js';
import type { LocalRunEvent } from './run-events.js';
import type { BoundTask } from './task-bindings.js';
import type { TaskTokenRegistry } from './task-tokens.js';

/** What the invoker needs from the execution it serves. */
export interface InvocationScope {
  readonly executionName: string;
  /** Aborted when the execution ends or is aborted. */
  readonly executionSignal: AbortSignal;
  readonly taskTokens: TaskTokenRegistry;
  /** Where Activity Tasks are scheduled (its registry is `taskTokens`). */
  readonly activities: ActivityQueues;
  /** HeartbeatSeconds in milliseconds by state name, instead of the definition's (heartbeatOverrides). */
  readonly heartbeatOverrides: Readonly<Record<string, number>>;
  readonly emit: (event: LocalRunEvent) => void;
}

/** Step Functions' per-state payload quota. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

/** A handler failure as the library must see it: `name` is what Retry/Catch match, `message` the Cause. */
export class StatesTaskError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** A failure that neither Retry nor Catch may act on; the library reads these two getters by duck typing. */
export class TerminalStatesError extends StatesTaskError {
  get isRetryable(): boolean {
    return false;
  }
  get isCatchable(): boolean {
    return false;
  }
}

/** Maps a thrown value to the error Step Functions would report, with a Lambda-style JSON cause. */
export function toStatesError(thrown: unknown): Error {
  if (thrown instanceof StatesTaskError || thrown instanceof TaskFailedError) return thrown;
  const error = thrown instanceof Error ? thrown : new Error(String(thrown));
  // Lambda's Node runtime reports { errorType, errorMessage, trace }; the trace is left out to keep causes readable.
  return new StatesTaskError(error.name, JSON.stringify({ errorType: error.name, errorMessage: error.message }));
}

/**
 * A task result as Step Functions passes it on: a JSON copy within the payload quota.
 * @throws TerminalStatesError States.Runtime (not JSON), States.DataLimitExceeded (over 256 KiB).
 */
export function checkedOutput(value: unknown): JsonValue {
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
export class Invocation {
  readonly controller = new AbortController();
  private timedOut = false;
  private readonly deadline: number;
  private readonly timer: NodeJS.Timeout;
  /** The library run calling the Task: aborted once its Map failed by another iteration (library-runs.ts). */
  private readonly libraryRun = currentLibraryRun();
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
   * Starts `work` one macrotask later unless the execution has ended or the Map iteration calling it was abandoned
   * (another iteration failed the Map), and settles like it unless aborted first: after a timeout it stays pending,
   * after the end of the execution it rejects with an error no Retry or Catch acts on.
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
      // A failed Map aborts its iterations within the microtasks that follow the failure: by then they are aborted.
      setImmediate(() => {
        if (signal.aborted) return;
        if (this.libraryRun?.aborted) {
          this.dispose();
          reject(new TerminalStatesError('States.Runtime', 'not started: its Map iteration was abandoned'));
          return;
        }
        this.start(work, signal, resolve, reject);
      });
    });
  }

  private start<T>(
    work: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal,
    resolve: (value: T) => void,
    reject: (error: unknown) => void,
  ): void {
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

/**
 * The heartbeat window of an invocation in ms: the override, HeartbeatSeconds, or HeartbeatSecondsPath (copied into
 * the effective input by prepareDefinition); undefined for none.
 * @throws TerminalStatesError States.Runtime when the path does not give a positive integer, as on AWS.
 */
export function heartbeatMsOf(task: BoundTask, scope: InvocationScope, effectiveInput: JsonValue): number | undefined {
  const override = scope.heartbeatOverrides[task.stateName];
  if (override !== undefined) return override;
  if (task.heartbeatSeconds !== undefined) return task.heartbeatSeconds * 1000;
  if (!isJsonObject(effectiveInput) || !Object.hasOwn(effectiveInput, HEARTBEAT_SECONDS_KEY)) return undefined;
  const seconds = effectiveInput[HEARTBEAT_SECONDS_KEY];
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 1) {
    throw new TerminalStatesError(
      'States.Runtime',
      `HeartbeatSecondsPath of state "${task.stateName}" did not resolve to a positive integer: ${JSON.stringify(seconds)}`,
    );
  }
  return seconds * 1000;
}
