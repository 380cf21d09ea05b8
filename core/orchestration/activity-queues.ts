import { ActivityDoesNotExistError, InvalidActivityNameError } from './errors.js';
import { HeartbeatClock, heartbeatTimeoutError } from './heartbeat-clock.js';
import type { JsonValue } from './json.js';
import { createTaskToken, TaskTokenRegistry } from './task-tokens.js';

/** The account and region part of the ARNs the local activities get (`arn:aws:states:local:000000000000:…`). */
const LOCAL_ARN_PREFIX = 'arn:aws:states:local:000000000000:activity:';
/** Activity names as CreateActivity accepts them (the printable subset homebound needs). */
const ACTIVITY_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const ACTIVITY_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:activity:([A-Za-z0-9_-]{1,80})$/;

/** The ARN a local activity of that name has. @throws InvalidActivityNameError */
export function localActivityArn(name: string): string {
  if (!ACTIVITY_NAME.test(name)) throw new InvalidActivityNameError(`invalid activity name ${JSON.stringify(name)}`);
  return `${LOCAL_ARN_PREFIX}${name}`;
}

/** What DescribeActivity reports. */
export interface ActivityDescription {
  readonly activityArn: string;
  readonly name: string;
  readonly creationDate: Date;
}

/** A task to put on an activity's queue (runner use, or a test standing in for the runner). */
export interface ActivityTaskRequest {
  readonly activityArn: string;
  /** The effective input (after InputPath/Parameters); the worker receives its JSON text. */
  readonly input: JsonValue;
  readonly executionName: string;
  readonly stateName: string;
  /**
   * HeartbeatSeconds in milliseconds. Counted from the moment a worker takes the task, restarted by every heartbeat;
   * when it runs out the task fails with States.HeartbeatTimeout. @default no heartbeat timeout
   */
  readonly heartbeatMs?: number;
  /** Called when a worker takes the task, with the workerName it gave GetActivityTask. */
  readonly onStarted?: (workerName: string | undefined) => void;
}

/** A task on an activity's queue, or with the worker that took it. */
export interface ScheduledActivityTask {
  readonly taskToken: string;
  /**
   * Settles with the worker's SendTaskSuccess output; rejects with a TaskFailedError for SendTaskFailure (its error
   * and cause) or for States.HeartbeatTimeout.
   */
  readonly completion: Promise<JsonValue>;
  /**
   * Withdraws the task (TimeoutSeconds, end of the execution): off the queue if nobody took it, heartbeat timer
   * stopped, its token closed so late calls get TaskTimedOut ('timed-out') or TaskDoesNotExist ('done').
   */
  cancel(reason: 'timed-out' | 'done'): void;
}

/** What GetActivityTask hands a worker. */
export interface DeliveredActivityTask {
  readonly taskToken: string;
  /** The task's input as JSON text, as Step Functions delivers it. */
  readonly input: string;
}

interface QueuedTask {
  readonly request: ActivityTaskRequest;
  readonly taskToken: string;
  /** Set when a worker takes the task; stops the heartbeat timer and reports the start. */
  taken(workerName: string | undefined): void;
}

interface Waiter {
  readonly deliver: (task: QueuedTask) => void;
}

/**
 * Step Functions activities, locally: one FIFO queue of scheduled tasks and one FIFO line of long-polling workers
 * per activity ARN. The runner schedules an Activity Task here; a worker takes it with {@link poll} (the local
 * activity API server's GetActivityTask) and completes it through the {@link taskTokens} registry
 * (SendTaskSuccess/Failure/Heartbeat), which is shared with .waitForTaskToken Tasks, as the task-token API is on AWS.
 */
export class ActivityQueues {
  private readonly activities = new Map<string, ActivityDescription>();
  private readonly queued = new Map<string, QueuedTask[]>();
  private readonly waiters = new Map<string, Waiter[]>();

  /** @param taskTokens where the tasks' tokens are opened and completed. @default a new registry */
  constructor(readonly taskTokens: TaskTokenRegistry = new TaskTokenRegistry()) {}

  /** Like CreateActivity: idempotent for an existing name. Returns its ARN. @throws InvalidActivityNameError */
  createActivity(name: string): ActivityDescription {
    const activityArn = localActivityArn(name);
    const known = this.activities.get(activityArn);
    if (known !== undefined) return known;
    const description: ActivityDescription = { activityArn, name, creationDate: new Date() };
    this.activities.set(activityArn, description);
    return description;
  }

  /**
   * Makes an activity known by its ARN (any account and region), as a deployed stack's activity would be.
   * @throws InvalidActivityNameError when the ARN is not an activity ARN.
   */
  registerActivity(activityArn: string): ActivityDescription {
    const name = ACTIVITY_ARN.exec(activityArn)?.[1];
    if (name === undefined) throw new InvalidActivityNameError(`not an activity ARN: ${activityArn}`);
    const known = this.activities.get(activityArn);
    if (known !== undefined) return known;
    const description: ActivityDescription = { activityArn, name, creationDate: new Date() };
    this.activities.set(activityArn, description);
    return description;
  }

  /** Like DescribeActivity. @throws ActivityDoesNotExistError */
  describeActivity(activityArn: string): ActivityDescription {
    const known = this.activities.get(activityArn);
    if (known === undefined) throw new ActivityDoesNotExistError(`activity does not exist: ${activityArn}`);
    return known;
  }

  /**
   * Puts a task on its activity's queue, or hands it straight to the longest-waiting worker, and opens its token.
   * @throws ActivityDoesNotExistError for an activity not created or registered.
   */
  schedule(request: ActivityTaskRequest): ScheduledActivityTask {
    const { activityArn, executionName, stateName, input } = request;
    this.describeActivity(activityArn);
    const taskToken = createTaskToken();
    const heartbeat = new HeartbeatClock(request.heartbeatMs, () =>
      this.taskTokens.timeOut(taskToken, heartbeatTimeoutError(request.heartbeatMs)),
    );
    const completion = this.taskTokens.openTask(
      { taskToken, executionName, stateName, input, activityArn },
      { onHeartbeat: () => heartbeat.beat() },
    );
    const stopHeartbeat = () => heartbeat.stop();
    completion.then(stopHeartbeat, stopHeartbeat);
    const task: QueuedTask = {
      request,
      taskToken,
      taken: (workerName) => {
        heartbeat.start();
        try {
          request.onStarted?.(workerName);
        } catch (error) {
          // A broken progress display must not fail the task it is told about.
          process.emitWarning(`onStarted threw: ${error instanceof Error ? error.message : String(error)}`);
        }
      },
    };
    const waiter = this.waiters.get(activityArn)?.shift();
    if (waiter !== undefined) waiter.deliver(task);
    else this.queueOf(this.queued, activityArn).push(task);
    return {
      taskToken,
      completion,
      cancel: (reason) => {
        const queue = this.queued.get(activityArn);
        const at = queue?.indexOf(task) ?? -1;
        if (at >= 0) queue?.splice(at, 1);
        stopHeartbeat();
        this.taskTokens.close(taskToken, reason);
      },
    };
  }

  /**
   * Like GetActivityTask: the oldest task of the activity, else waits up to `waitMs` for one to be scheduled.
   * Resolves undefined when none came in time or `signal` aborted (the worker hung up) — that worker gets nothing.
   * @throws ActivityDoesNotExistError
   */
  poll(
    activityArn: string,
    options: { readonly workerName?: string; readonly waitMs: number; readonly signal?: AbortSignal },
  ): Promise<DeliveredActivityTask | undefined> {
    this.describeActivity(activityArn);
    const hand = (task: QueuedTask): DeliveredActivityTask => {
      task.taken(options.workerName);
      return { taskToken: task.taskToken, input: JSON.stringify(task.request.input) };
    };
    const ready = this.queued.get(activityArn)?.shift();
    if (ready !== undefined) return Promise.resolve(hand(ready));
    if (options.waitMs <= 0 || options.signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const line = this.queueOf(this.waiters, activityArn);
      const giveUp = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', giveUp);
        const at = line.indexOf(waiter);
        if (at >= 0) line.splice(at, 1);
        resolve(undefined);
      };
      const waiter: Waiter = {
        deliver: (task) => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', giveUp);
          resolve(hand(task));
        },
      };
      const timer = setTimeout(giveUp, options.waitMs);
      options.signal?.addEventListener('abort', giveUp, { once: true });
      line.push(waiter);
    });
  }

  /** Tasks scheduled and not yet taken by a worker, per activity. */
  queuedCount(activityArn: string): number {
    return this.queued.get(activityArn)?.length ?? 0;
  }

  /** Workers long-polling the activity now (a worker that hung up stops counting once its server saw it go). */
  waitingCount(activityArn: string): number {
    return this.waiters.get(activityArn)?.length ?? 0;
  }

  private queueOf<T>(map: Map<string, T[]>, activityArn: string): T[] {
    let queue = map.get(activityArn);
    if (queue === undefined) {
      queue = [];
      map.set(activityArn, queue);
    }
    return queue;
  }
}
