import {
  GetActivityTaskCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { HomeboundError } from '../errors.js';
import { abortableSleep } from '../gateway/heartbeat.js';

/** Step Functions' answers for a task token that can no longer be completed: the state gave up on the task. */
const TOKEN_GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);
/** Answers to GetActivityTask that waiting cannot fix: the config names no activity. */
const FATAL_POLL = new Set(['ActivityDoesNotExist', 'InvalidArn']);
/** SendTaskFailure's limits. */
const MAX_ERROR = 256;
const MAX_CAUSE = 32_768;

/** The activity the config names does not exist (wrong ARN or Region, or the stack is not deployed). */
export class ActivityNotFoundError extends HomeboundError {
  constructor(
    readonly activityArn: string,
    options?: ErrorOptions,
  ) {
    super(`activity ${activityArn} does not exist (check activityArn and region in the agent config)`, options);
  }
}

/** The agent stopped (SIGTERM/SIGINT) while working on a task; a retry of the state finds it, or another, again. */
export class AgentStoppedError extends HomeboundError {}

export type WorkerEvent =
  | { readonly type: 'polling'; readonly activityArn: string; readonly workerName: string }
  | { readonly type: 'poll-failed'; readonly error: unknown; readonly retryInMs: number }
  | { readonly type: 'task-started'; readonly operation: string; readonly runId: string }
  | { readonly type: 'task-succeeded'; readonly operation: string; readonly runId: string; readonly seconds: number }
  | {
      readonly type: 'task-failed';
      readonly operation: string;
      readonly runId: string;
      readonly error: string;
      readonly cause: string;
    }
  | { readonly type: 'task-abandoned'; readonly operation: string; readonly runId: string; readonly reason: string }
  | { readonly type: 'heartbeat-failed'; readonly operation: string; readonly error: unknown }
  | { readonly type: 'answer-failed'; readonly operation: string; readonly error: unknown };

export interface ActivityWorkerOptions {
  readonly client: SFNClient;
  readonly activityArn: string;
  readonly workerName: string;
  readonly heartbeatSeconds: number;
  readonly maxConcurrentTasks: number;
  /** Does the task's work; its result is sent with SendTaskSuccess. `signal` aborts when the state gave up. */
  readonly work: (input: string, signal: AbortSignal) => Promise<Record<string, unknown>>;
  /** Stops polling; tasks in flight are aborted and answered with AgentStoppedError. */
  readonly signal: AbortSignal;
  /** First wait after a failed poll; doubles up to `maxBackoffMs`. @default 1000 */
  readonly backoffMs?: number;
  /** @default 30000 */
  readonly maxBackoffMs?: number;
  readonly onEvent?: (event: WorkerEvent) => void;
}

/**
 * The agent's Step Functions activity worker: long-polls GetActivityTask (an empty token means nothing came within
 * the minute: poll again; a network error: back off and keep going), runs up to `maxConcurrentTasks` tasks at once,
 * sends SendTaskHeartbeat every `heartbeatSeconds` while one runs, and answers SendTaskSuccess with the work's
 * result or SendTaskFailure with `error` = the error's class name (what a Catch matches) and `cause` = its message.
 * A heartbeat answered TaskTimedOut means the state gave up: the work is aborted and nothing more is sent.
 * Resolves when `signal` aborts and every task has been answered.
 * @throws ActivityNotFoundError when the activity does not exist
 */
export async function runActivityWorker(options: ActivityWorkerOptions): Promise<void> {
  const { client, signal } = options;
  const running = new Set<Promise<void>>();
  let failures = 0;
  options.onEvent?.({ type: 'polling', activityArn: options.activityArn, workerName: options.workerName });
  try {
    while (!signal.aborted) {
      if (running.size >= options.maxConcurrentTasks) {
        await Promise.race(running);
        continue;
      }
      let task: { taskToken?: string | undefined; input?: string | undefined };
      try {
        // Aborting cuts the long poll at once. A task Step Functions hands out at that instant is lost to this
        // agent; its state then fails on HeartbeatSeconds and its Retry/Catch decides, as for a crashed agent.
        task = await client.send(
          new GetActivityTaskCommand({ activityArn: options.activityArn, workerName: options.workerName }),
          { abortSignal: signal },
        );
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof Error && FATAL_POLL.has(error.name)) {
          throw new ActivityNotFoundError(options.activityArn, { cause: error });
        }
        failures += 1;
        const retryInMs = Math.min((options.backoffMs ?? 1000) * 2 ** (failures - 1), options.maxBackoffMs ?? 30_000);
        options.onEvent?.({ type: 'poll-failed', error, retryInMs });
        await abortableSleep(retryInMs, signal);
        continue;
      }
      if (!task.taskToken) continue;
      const done: Promise<void> = runTask(options, task.taskToken, task.input ?? '').finally(() =>
        running.delete(done),
      );
      running.add(done);
    }
  } finally {
    await Promise.allSettled(running);
  }
}

/** Works on one task and answers it; never rejects. */
async function runTask(options: ActivityWorkerOptions, taskToken: string, input: string): Promise<void> {
  const { client } = options;
  const { operation, runId } = peek(input);
  const work = new AbortController();
  let gone: string | undefined;
  const onStop = () => work.abort(new AgentStoppedError(`the agent stopped while working on ${operation}`));
  options.signal.addEventListener('abort', onStop, { once: true });
  // A task that arrived with the stop is answered at once, not worked on.
  if (options.signal.aborted) onStop();
  const beat = setInterval(() => {
    client.send(new SendTaskHeartbeatCommand({ taskToken })).catch((error: unknown) => {
      if (error instanceof Error && TOKEN_GONE.has(error.name)) {
        gone = error.name;
        work.abort(error);
      } else {
        options.onEvent?.({ type: 'heartbeat-failed', operation, error });
      }
    });
  }, options.heartbeatSeconds * 1000);
  const started = performance.now();
  options.onEvent?.({ type: 'task-started', operation, runId });
  try {
    let answer: () => Promise<unknown>;
    try {
      const result = await options.work(input, work.signal);
      const output = JSON.stringify(result);
      answer = () => client.send(new SendTaskSuccessCommand({ taskToken, output }));
      if (!gone) {
        const seconds = (performance.now() - started) / 1000;
        options.onEvent?.({ type: 'task-succeeded', operation, runId, seconds });
      }
    } catch (thrown) {
      const error = options.signal.aborted && !gone ? work.signal.reason : thrown;
      const name = (error instanceof Error ? error.name : 'Error').slice(0, MAX_ERROR);
      const cause = (error instanceof Error ? error.message : String(error)).slice(0, MAX_CAUSE);
      answer = () => client.send(new SendTaskFailureCommand({ taskToken, error: name, cause }));
      if (!gone) options.onEvent?.({ type: 'task-failed', operation, runId, error: name, cause });
    }
    if (gone) {
      options.onEvent?.({ type: 'task-abandoned', operation, runId, reason: gone });
      return;
    }
    clearInterval(beat);
    await answer().catch((error: unknown) => {
      options.onEvent?.({ type: 'answer-failed', operation, error });
    });
  } finally {
    clearInterval(beat);
    options.signal.removeEventListener('abort', onStop);
  }
}

const LoggedFields = z.object({
  operation: z.string().catch('(no operation)'),
  runId: z.string().catch('(no run)'),
});

/** The operation and run named in an input, for logs only (the work parses it properly). */
function peek(input: string): { operation: string; runId: string } {
  try {
    const fields = LoggedFields.safeParse(JSON.parse(input));
    if (fields.success) return fields.data;
  } catch {
    // Reported by the work's own parse.
  }
  return { operation: '(unreadable input)', runId: '(no run)' };
}
