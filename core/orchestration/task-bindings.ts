import { walkStates } from './asl-walk.js';
import { isWaitForTaskToken, MAX_TIMER_SECONDS } from './definition-checks.js';
import { InvalidRunnerOptionsError, type UnboundTask, UnboundTaskError } from './errors.js';
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

/** A Task state and the local handler bound to it. */
export interface BoundTask {
  readonly stateName: string;
  readonly placeholder: string | undefined;
  readonly integration: TaskIntegration;
  readonly waitForTaskToken: boolean;
  readonly timeoutSeconds: number;
  readonly handler: TaskHandler;
}

const PLACEHOLDER = /^\$\{([A-Za-z0-9_]+)\}$/;

/** The placeholder name in `"${Name}"`, or undefined when the string is anything else. */
export function placeholderName(value: unknown): string | undefined {
  return typeof value === 'string' ? PLACEHOLDER.exec(value)?.[1] : undefined;
}

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

/**
 * Binds every Task state (Map iterators and Parallel branches included) to its local handler: `stateHandlers` by
 * state name first, then `handlers` by the Task's placeholder. Expects checkDefinition to have passed.
 * @throws UnboundTaskError listing every Task without a handler.
 * @throws InvalidRunnerOptionsError when a stateHandlers key is not the name of a Task state.
 */
export function bindTasks(
  machine: JsonObject,
  handlers: Readonly<Record<string, TaskHandler>>,
  stateHandlers: Readonly<Record<string, TaskHandler>>,
): BoundTask[] {
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
    if (handler === undefined) {
      unbound.push({ stateName: name, placeholder, resource: String(state.Resource) });
      continue;
    }
    bound.push({
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
      handler,
    });
  }
  const strangers = Object.keys(stateHandlers).filter((name) => !taskNames.has(name));
  if (strangers.length > 0) {
    throw new InvalidRunnerOptionsError(`stateHandlers name no Task state: ${strangers.join(', ')}`);
  }
  if (unbound.length > 0) throw new UnboundTaskError(unbound);
  return bound;
}
