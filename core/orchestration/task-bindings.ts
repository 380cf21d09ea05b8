import { placeholderName, walkStates } from './asl-walk.js';
import { isWaitForTaskToken, MAX_TIMER_SECONDS } from './definition-checks.js';
import {
  HeartbeatPathNotSupportedError,
  InvalidRunnerOptionsError,
  type UnboundTask,
  UnboundTaskError,
} from './errors.js';
import { isJsonObject, type JsonObject } from './json.js';
import type { TaskHandler } from './task-invoker.js';

/** How AWS would call the task, which decides what the handler receives and what the state gets back. */
export type TaskIntegration =
  /** `Resource` is a Lambda ARN: the handler gets the effective input, the state gets its return value. */
  | 'lambda-function'
  /** `arn:aws:states:::lambda:invoke[.waitForTaskToken]`: the handler gets `Parameters.Payload`. */
  | 'lambda-invoke'
  /** Any other service integration: the handler gets the effective input (the resolved Parameters). */
  | 'service';

interface BoundTaskBase {
  readonly stateName: string;
  readonly placeholder: string | undefined;
  readonly integration: TaskIntegration;
  readonly waitForTaskToken: boolean;
  readonly timeoutSeconds: number;
  /** The state's HeartbeatSeconds; undefined when absent or given by HeartbeatSecondsPath. */
  readonly heartbeatSeconds: number | undefined;
}

/** A Task state bound to a local handler. */
export interface HandlerTask extends BoundTaskBase {
  readonly handler: TaskHandler;
  readonly activityArn?: undefined;
}

/** A Task state bound to an activity: a worker polling the activity's queue completes it. */
export interface ActivityTask extends BoundTaskBase {
  readonly activityArn: string;
  readonly handler?: undefined;
}

/** A Task state and what runs it locally. */
export type BoundTask = HandlerTask | ActivityTask;

export { placeholderName } from './asl-walk.js';

/** The placeholder a Task is bound by: in `Resource`, or in `Parameters.FunctionName` for `lambda:invoke`. */
export function taskPlaceholder(state: JsonObject): string | undefined {
  const fromResource = placeholderName(state.Resource);
  if (fromResource !== undefined) return fromResource;
  if (integrationOf(state) === 'lambda-invoke' && isJsonObject(state.Parameters)) {
    return placeholderName(state.Parameters.FunctionName);
  }
  return undefined;
}

function integrationOf(state: JsonObject): TaskIntegration {
  const resource = typeof state.Resource === 'string' ? state.Resource : '';
  if (resource.startsWith('arn:aws:states:::lambda:invoke')) return 'lambda-invoke';
  if (placeholderName(resource) !== undefined || resource.startsWith('arn:aws:lambda:')) return 'lambda-function';
  return 'service';
}

/** What Tasks can be bound to, as LocalRunnerOptions give them. */
export interface TaskTargets {
  readonly handlers: Readonly<Record<string, TaskHandler>>;
  readonly stateHandlers: Readonly<Record<string, TaskHandler>>;
  /** Activity ARNs by placeholder name. */
  readonly activities: Readonly<Record<string, string>>;
}

/**
 * Binds every Task state (Map iterators and Parallel branches included) to what runs it locally: `stateHandlers` by
 * state name first, then `handlers` or `activities` by the Task's placeholder. Expects checkDefinition to have passed.
 * @throws UnboundTaskError listing every Task without a handler or activity.
 * @throws InvalidRunnerOptionsError when a stateHandlers key is not the name of a Task state, or a placeholder is
 *   both a handler and an activity.
 * @throws HeartbeatPathNotSupportedError for an activity Task with HeartbeatSecondsPath but no Parameters object.
 */
export function bindTasks(machine: JsonObject, targets: TaskTargets): BoundTask[] {
  const { handlers, stateHandlers, activities } = targets;
  const both = Object.keys(activities).filter((name) => Object.hasOwn(handlers, name));
  if (both.length > 0) {
    throw new InvalidRunnerOptionsError(`placeholders bound both to a handler and an activity: ${both.join(', ')}`);
  }
  const bound: BoundTask[] = [];
  const unbound: UnboundTask[] = [];
  const taskNames = new Set<string>();
  for (const { name, state, type } of walkStates(machine)) {
    if (type !== 'Task') continue;
    taskNames.add(name);
    const placeholder = taskPlaceholder(state);
    const handler = Object.hasOwn(stateHandlers, name)
      ? stateHandlers[name]
      : placeholder !== undefined && Object.hasOwn(handlers, placeholder)
        ? handlers[placeholder]
        : undefined;
    const activityArn =
      handler === undefined && placeholder !== undefined && Object.hasOwn(activities, placeholder)
        ? activities[placeholder]
        : undefined;
    if (handler === undefined && activityArn === undefined) {
      unbound.push({ stateName: name, placeholder, resource: String(state.Resource) });
      continue;
    }
    if (activityArn !== undefined && 'HeartbeatSecondsPath' in state && !isJsonObject(state.Parameters)) {
      throw new HeartbeatPathNotSupportedError(
        name,
        'HeartbeatSecondsPath is read through Parameters locally; give the activity Task a Parameters object',
      );
    }
    const common = {
      stateName: name,
      placeholder,
      integration: integrationOf(state),
      waitForTaskToken: isWaitForTaskToken(state),
      // checkDefinition guarantees a positive integer or a TimeoutSecondsPath; the cap matches what
      // prepareDefinition gives the library. A path is resolved from the state's raw input, which only the library
      // sees: it enforces that timeout (States.Timeout) and the handler's signal is aborted when the execution ends.
      timeoutSeconds: Math.min(
        typeof state.TimeoutSeconds === 'number' ? state.TimeoutSeconds : MAX_TIMER_SECONDS,
        MAX_TIMER_SECONDS,
      ),
      heartbeatSeconds: typeof state.HeartbeatSeconds === 'number' ? state.HeartbeatSeconds : undefined,
    };
    if (handler !== undefined) bound.push({ ...common, handler });
    else if (activityArn !== undefined) bound.push({ ...common, activityArn });
  }
  const strangers = Object.keys(stateHandlers).filter((name) => !taskNames.has(name));
  if (strangers.length > 0) {
    throw new InvalidRunnerOptionsError(`stateHandlers name no Task state: ${strangers.join(', ')}`);
  }
  if (unbound.length > 0) throw new UnboundTaskError(unbound);
  return bound;
}
