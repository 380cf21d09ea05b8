import { AsyncLocalStorage } from 'node:async_hooks';
import { StateMachine } from 'aws-local-stepfunctions';

/**
 * Which run of the library a Task belongs to: the execution itself, or one iteration of a Map (one branch of a
 * Parallel), each with the abort signal the library gives it.
 *
 * Why: on AWS, once an iteration of a Map fails (and nothing inside it catches the error) the Map fails and no other
 * iteration starts another Task. The library aborts the iterations running at that moment, but its concurrency queue
 * still starts the queued ones afterwards — a Map over cutover waves with MaxConcurrency 1 would go on starting wave 3
 * after wave 2 failed its health checks, while the run rolls back. So every run of the library carries its abort
 * signal in an AsyncLocalStorage (its `execute` is wrapped once, here), and an Invocation reads it when the library
 * calls the Task and checks it one macrotask later, once a failed Map has aborted its iterations
 * (core/orchestration/invocation.ts).
 */
const currentRun = new AsyncLocalStorage<AbortSignal>();

type Execute = (input: unknown, options: { abortSignal: AbortSignal }, cleanup: () => void) => Promise<unknown>;
const prototype = StateMachine.prototype as unknown as { execute: Execute; homeboundTracked?: true };
if (!prototype.homeboundTracked) {
  const execute = prototype.execute;
  prototype.execute = function (this: unknown, input, options, cleanup) {
    return currentRun.run(options.abortSignal, () => execute.call(this, input, options, cleanup));
  };
  prototype.homeboundTracked = true;
}

/** The abort signal of the library run (execution, Map iteration or Parallel branch) the caller is part of. */
export function currentLibraryRun(): AbortSignal | undefined {
  return currentRun.getStore();
}
