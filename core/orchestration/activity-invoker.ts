import { setImmediate as nextMacrotask } from 'node:timers/promises';
import type { ScheduledActivityTask } from './activity-queues.js';
import { checkedOutput, heartbeatMsOf, Invocation, type InvocationScope, toStatesError } from './invocation.js';
import { isJsonObject, type JsonValue } from './json.js';
import { TIMEOUT_SECONDS_KEY, withoutRunnerKeys } from './prepare-definition.js';
import type { ActivityTask } from './task-bindings.js';

/**
 * Runs one invocation of an Activity Task: schedules it on the activity's queue with the effective input and settles
 * with what the worker sends — SendTaskSuccess output as the task result, SendTaskFailure as that error name and
 * cause. HeartbeatSeconds counts from the moment a worker takes the task (States.HeartbeatTimeout); TimeoutSeconds
 * from scheduling (States.Timeout, reported by the library's own timer), so a task nobody polls waits until then.
 * Either way the task leaves the queue and its token answers TaskTimedOut. A Retry schedules a fresh task.
 */
export async function invokeActivity(
  task: ActivityTask,
  scope: InvocationScope,
  effectiveInput: JsonValue,
): Promise<JsonValue> {
  const { stateName, activityArn } = task;
  const { executionName } = scope;
  let scheduled: ScheduledActivityTask | undefined;
  // Set synchronously, like the library's timer for the same TimeoutSeconds (see Invocation).
  const invocation = new Invocation(scope, timeoutSecondsOf(task, effectiveInput), () =>
    scheduled?.cancel('timed-out'),
  );
  // Lets the library's StateEntered event reach listeners before ActivityScheduled (as for task tokens).
  await nextMacrotask();
  try {
    const output = await invocation.run(async () => {
      const heartbeatMs = heartbeatMsOf(task, scope, effectiveInput);
      // Before scheduling: a worker already polling takes the task inside schedule(), reporting ActivityStarted.
      scope.emit({ type: 'ActivityScheduled', timestamp: Date.now(), executionName, stateName });
      scheduled = scope.activities.schedule({
        activityArn,
        input: withoutRunnerKeys(effectiveInput),
        executionName,
        stateName,
        ...(heartbeatMs === undefined ? {} : { heartbeatMs }),
        onStarted: (workerName) =>
          scope.emit({ type: 'ActivityStarted', timestamp: Date.now(), executionName, stateName, workerName }),
      });
      return scheduled.completion;
    });
    return checkedOutput(output);
  } catch (error) {
    throw toStatesError(error);
  } finally {
    // After success or failure the token is already closed; this takes an unclaimed task off the queue when the
    // execution ends, so no worker picks up work nobody waits for.
    scheduled?.cancel('done');
  }
}

/** TimeoutSeconds, or the value TimeoutSecondsPath gave (copied into the effective input by prepareDefinition). */
function timeoutSecondsOf(task: ActivityTask, effectiveInput: JsonValue): number {
  const fromPath = isJsonObject(effectiveInput) ? effectiveInput[TIMEOUT_SECONDS_KEY] : undefined;
  // An invalid path value fails the state in the library (States.Runtime); our timer then only needs to be harmless.
  return typeof fromPath === 'number' && Number.isInteger(fromPath) && fromPath > 0
    ? Math.min(fromPath, task.timeoutSeconds)
    : task.timeoutSeconds;
}
