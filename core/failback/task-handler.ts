import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { InvalidInputError } from '../errors.js';
import type { FailbackDeps } from './run-state.js';
import type { FailbackTask } from './tasks.js';

/** Time kept back from a Lambda's remaining time so a long step returns its cursor before the hard stop. */
const DEADLINE_MARGIN_MS = 30_000;
/** Time kept back from a Lambda's remaining time by the hard stop that aborts the calls still in flight. */
const HARD_STOP_MARGIN_MS = 2_000;

/** Thrown when a state hands a task an input that does not fit its schema: a state machine bug, never retried. */
export class TaskInputError extends InvalidInputError {}

const WithRunId = z.object({ runId: z.string().min(1) });

/**
 * Counts a failed invocation in TaskErrors (by Task and error name, and by run when the input names one). Not
 * Powertools' logMetrics: that flushes one store per invocation, shared by concurrent invocations in the local
 * runner's process, and warns on every invocation that published nothing; each FailbackMetrics call is its own record.
 */
function countTaskErrors(name: string, deps: () => FailbackDeps): MiddlewareObj<unknown, unknown, Error, Context> {
  return {
    onError: (request) => {
      const runId = WithRunId.safeParse(request.event);
      try {
        deps().metrics.taskFailed(name, request.error?.name ?? 'Error', runId.success ? runId.data.runId : undefined);
      } catch {
        // No deps (a malformed environment): the error itself still reaches Step Functions.
      }
    },
  };
}

/**
 * The middy chain every Task shares, on Lambda and in the local runner alike: structured logs with the invocation
 * context, the input parsed by the task's zod schema (a mismatch fails with TaskInputError naming the field), one
 * call into the core. Errors keep their class name, which Step Functions sees as the error name for Retry/Catch,
 * and are counted in the TaskErrors metric.
 * `deps` is resolved once per process and shared by every invocation.
 */
export function createTaskHandler<I>(
  name: string,
  task: FailbackTask<I>,
  deps: () => FailbackDeps,
  logger: Logger = new Logger({ serviceName: 'homebound', logLevel: 'WARN' }),
) {
  return middy(async (event: unknown, context: Context) => {
    const parsed = task.input.safeParse(event);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new TaskInputError(`${name}: input field ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
    }
    const remaining = context.getRemainingTimeInMillis();
    const deadline = Date.now() + Math.max(1000, remaining - DEADLINE_MARGIN_MS);
    // Lambda freezes an invocation at its time limit without telling it, and calls still in flight would resume in
    // the next invocation of the same sandbox; so give up on them just before. The local runner adds its own signal
    // (Task timeout, execution ended).
    const hardStop = AbortSignal.timeout(Math.max(1000, remaining - HARD_STOP_MARGIN_MS));
    const given = (context as Context & { signal?: AbortSignal }).signal;
    const signal = given ? AbortSignal.any([given, hardStop]) : hardStop;
    return task.run(parsed.data, deps(), deadline, signal);
  })
    .use(injectLambdaContext(logger))
    .use(countTaskErrors(name, deps));
}
