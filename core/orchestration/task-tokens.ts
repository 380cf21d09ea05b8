import { randomBytes } from 'node:crypto';
import { TaskDoesNotExistError, TaskFailedError, TaskTimedOutError } from './errors.js';
import { type JsonValue, jsonCopy } from './json.js';

/** A task waiting for SendTaskSuccess/SendTaskFailure. */
export interface PendingTask {
  readonly taskToken: string;
  readonly executionName: string;
  readonly stateName: string;
  /** What the task's handler received (for lambda:invoke, the resolved Payload with the token filled in). */
  readonly input: JsonValue;
  readonly issuedAt: Date;
  /** Set for an Activity Task: the activity whose queue holds it (its worker completes it, not a handler). */
  readonly activityArn?: string;
}

/** How the opener of a task follows it (runner use). */
export interface OpenTaskOptions {
  /** Called on every accepted SendTaskHeartbeat, e.g. to restart a HeartbeatSeconds timer. */
  readonly onHeartbeat?: () => void;
}

interface OpenTask {
  readonly pending: PendingTask;
  readonly succeed: (output: JsonValue) => void;
  readonly fail: (error: TaskFailedError) => void;
  readonly onHeartbeat: (() => void) | undefined;
}

/** A fresh opaque token: 64 random bytes, base64url (86 characters; AWS allows up to 2,048). */
export function createTaskToken(): string {
  return randomBytes(64).toString('base64url');
}

/**
 * The local stand-in for Step Functions' task-token API. The runner opens a token for each invocation of a
 * `.waitForTaskToken` Task; whoever holds the token (the handler, a local approval server, a test) completes it with
 * {@link sendTaskSuccess} or {@link sendTaskFailure}, which have the same meaning and errors as the SFN API calls.
 * One registry may serve several machines and executions.
 */
export class TaskTokenRegistry {
  private readonly openTasks = new Map<string, OpenTask>();
  /** Tokens that can no longer be completed, and why, so late calls get the error AWS would give. */
  private readonly closedTasks = new Map<string, 'timed-out' | 'done'>();
  private readonly listeners = new Set<(task: PendingTask) => void>();

  /**
   * Opens a task for a token (runner use). Listeners registered with {@link onIssued} are told synchronously.
   * @returns a promise settled by sendTaskSuccess (output) or sendTaskFailure (a TaskFailedError).
   */
  openTask(pending: Omit<PendingTask, 'issuedAt'>, options: OpenTaskOptions = {}): Promise<JsonValue> {
    const task: PendingTask = { ...pending, issuedAt: new Date() };
    const completion = new Promise<JsonValue>((succeed, fail) => {
      this.openTasks.set(pending.taskToken, { pending: task, succeed, fail, onHeartbeat: options.onHeartbeat });
    });
    for (const listener of this.listeners) {
      try {
        listener(task);
      } catch (error) {
        // A broken listener (a progress display, a test hook) must not fail the task it is told about.
        process.emitWarning(`onIssued listener threw: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return completion;
  }

  /** Ends a token without completing it (runner use): after a timeout, late calls get TaskTimedOutError. */
  close(taskToken: string, reason: 'timed-out' | 'done'): void {
    this.openTasks.delete(taskToken);
    // The first reason sticks: a token that timed out keeps answering TaskTimedOut.
    if (!this.closedTasks.has(taskToken)) this.closedTasks.set(taskToken, reason);
  }

  /**
   * Fails an open task with a timeout the runner detected (e.g. States.HeartbeatTimeout) and closes its token as
   * timed out, so the worker's late calls get TaskTimedOutError. Does nothing when the token is no longer open.
   */
  timeOut(taskToken: string, error: TaskFailedError): void {
    const task = this.openTasks.get(taskToken);
    this.close(taskToken, 'timed-out');
    task?.fail(error);
  }

  /**
   * Completes the task with `output` as its result, like SendTaskSuccess.
   * @throws TaskTimedOutError if the task's TimeoutSeconds elapsed; TaskDoesNotExistError if the token is unknown or
   *   its task already finished; NotJsonSerializableError if output is not JSON.
   */
  sendTaskSuccess(taskToken: string, output: unknown): void {
    const task = this.take(taskToken);
    task.succeed(jsonCopy(output, 'the task output'));
  }

  /**
   * Fails the task with a Step Functions error name and cause, like SendTaskFailure; a Catch on `error` routes it.
   * @throws TaskTimedOutError, TaskDoesNotExistError as for sendTaskSuccess.
   */
  sendTaskFailure(taskToken: string, error: string, cause = ''): void {
    this.take(taskToken).fail(new TaskFailedError(error, cause));
  }

  /**
   * Like SendTaskHeartbeat: checks the token is still open and tells its opener, which restarts the task's
   * HeartbeatSeconds window where the state has one.
   * @throws TaskTimedOutError, TaskDoesNotExistError as for sendTaskSuccess.
   */
  sendTaskHeartbeat(taskToken: string): void {
    this.find(taskToken).onHeartbeat?.();
  }

  /** The tasks currently waiting for a token, oldest first. */
  pending(): PendingTask[] {
    return [...this.openTasks.values()].map((task) => task.pending);
  }

  /** Calls `listener` for every token opened from now on. Returns a function that unsubscribes. */
  onIssued(listener: (task: PendingTask) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves with the first waiting task that matches (already waiting, or the next one to open).
   * @param match e.g. `{ stateName: 'WaitForApproval' }`; both fields optional.
   */
  waitForTask(match: { stateName?: string; executionName?: string } = {}): Promise<PendingTask> {
    const matches = (task: PendingTask) =>
      (match.stateName === undefined || task.stateName === match.stateName) &&
      (match.executionName === undefined || task.executionName === match.executionName);
    const waiting = this.pending().find(matches);
    if (waiting !== undefined) return Promise.resolve(waiting);
    return new Promise((resolve) => {
      const unsubscribe = this.onIssued((task) => {
        if (!matches(task)) return;
        unsubscribe();
        resolve(task);
      });
    });
  }

  private find(taskToken: string): OpenTask {
    const task = this.openTasks.get(taskToken);
    if (task !== undefined) return task;
    if (this.closedTasks.get(taskToken) === 'timed-out')
      throw new TaskTimedOutError('the task for this token timed out');
    throw new TaskDoesNotExistError('no open task for this token (never issued, or already completed or aborted)');
  }

  private take(taskToken: string): OpenTask {
    const task = this.find(taskToken);
    this.close(taskToken, 'done');
    return task;
  }
}
