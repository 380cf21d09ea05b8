import { NESTED_MACHINE_FIELDS, placeholderName, walkStates } from './asl-walk.js';
import { isWaitForTaskToken, MAX_TIMER_SECONDS } from './definition-checks.js';
import { UnresolvedSubstitutionError } from './errors.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json.js';

/**
 * What `"taskToken.$": "$$.Task.Token"` becomes in the definition the library runs. The library has one context
 * object per execution, so it cannot give each task invocation its own token; it passes this literal through and the
 * task invoker swaps in a fresh token per invocation.
 */
export const TASK_TOKEN_SENTINEL = '<homebound-local-task-token>';

/**
 * The library resolves TimeoutSecondsPath against the task's effective input (after Parameters), AWS against the
 * state's input. The runner has Parameters copy the value to this key and points the library's path at it; the task
 * invoker removes the key before a handler sees its input.
 */
export const TIMEOUT_SECONDS_KEY = '__homeboundTimeoutSeconds';

/**
 * Like TIMEOUT_SECONDS_KEY for HeartbeatSecondsPath, which the library ignores: Parameters copy the value from the
 * state's input to this key, and the activity invoker reads it (and removes it) from the effective input.
 */
export const HEARTBEAT_SECONDS_KEY = '__homeboundHeartbeatSeconds';

const RUNNER_KEYS = [TIMEOUT_SECONDS_KEY, HEARTBEAT_SECONDS_KEY];

/** The effective input without the keys the runner added for TimeoutSecondsPath and HeartbeatSecondsPath. */
export function withoutRunnerKeys(input: JsonValue): JsonValue {
  if (!isJsonObject(input) || !RUNNER_KEYS.some((key) => Object.hasOwn(input, key))) return input;
  return Object.fromEntries(Object.entries(input).filter(([key]) => !RUNNER_KEYS.includes(key)));
}

const ANY_PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;

/**
 * Turns a checked, bound definition into the one the library runs, in place:
 * - fills `${Name}` placeholders from `substitutions`, except the Task bindings themselves;
 * - gives Tasks whose Resource is a placeholder a syntactically valid (never called) Lambda ARN;
 * - rewrites `"key.$": "$$.Task.Token"` in .waitForTaskToken Parameters to a literal sentinel;
 * - caps timers at what Node's setTimeout can express;
 * - makes TimeoutSecondsPath read the state's input, as on AWS (see TIMEOUT_SECONDS_KEY), and HeartbeatSecondsPath
 *   reach the invoker (see HEARTBEAT_SECONDS_KEY);
 * - lets a Retry or Catch for States.Timeout also match States.HeartbeatTimeout on Tasks with a heartbeat: AWS
 *   documents States.Timeout as covering a missed heartbeat, while the library matches error names exactly.
 * @throws UnresolvedSubstitutionError listing placeholders that have no value.
 */
export function prepareDefinition(machine: JsonObject, substitutions: Readonly<Record<string, string>>): JsonObject {
  const missing: { name: string; stateName: string | undefined }[] = [];
  for (const { name, state, type } of walkStates(machine)) {
    for (const [field, value] of Object.entries(state)) {
      if (NESTED_MACHINE_FIELDS.has(field)) continue;
      const isBinding = (v: JsonValue, path: string) =>
        type === 'Task' &&
        (path === 'Resource' || path === 'Parameters.FunctionName') &&
        placeholderName(v) !== undefined;
      state[field] = substitute(value, field, isBinding, substitutions, (placeholder) =>
        missing.push({ name: placeholder, stateName: name }),
      );
    }
    if (type === 'Task') prepareTask(state);
    if (type === 'Wait' && typeof state.Seconds === 'number')
      state.Seconds = Math.min(state.Seconds, MAX_TIMER_SECONDS);
  }
  if (missing.length > 0) throw new UnresolvedSubstitutionError(missing);
  if (typeof machine.TimeoutSeconds === 'number') {
    machine.TimeoutSeconds = Math.min(machine.TimeoutSeconds, MAX_TIMER_SECONDS);
  }
  return machine;
}

function prepareTask(state: JsonObject): void {
  const function_ = placeholderName(state.Resource);
  if (function_ !== undefined) state.Resource = `arn:aws:lambda:us-east-1:000000000000:function:${function_}`;
  if (typeof state.TimeoutSeconds === 'number')
    state.TimeoutSeconds = Math.min(state.TimeoutSeconds, MAX_TIMER_SECONDS);
  if (isWaitForTaskToken(state) && state.Parameters !== undefined)
    state.Parameters = injectTokenSentinel(state.Parameters);
  if (typeof state.TimeoutSecondsPath === 'string' && isJsonObject(state.Parameters)) {
    state.Parameters = { ...state.Parameters, [`${TIMEOUT_SECONDS_KEY}.$`]: state.TimeoutSecondsPath };
    state.TimeoutSecondsPath = `$.${TIMEOUT_SECONDS_KEY}`;
  }
  if (typeof state.HeartbeatSecondsPath === 'string' && isJsonObject(state.Parameters)) {
    state.Parameters = { ...state.Parameters, [`${HEARTBEAT_SECONDS_KEY}.$`]: state.HeartbeatSecondsPath };
  }
  if ('HeartbeatSeconds' in state || 'HeartbeatSecondsPath' in state) {
    for (const field of ['Retry', 'Catch'] as const) {
      const handlers = state[field];
      if (Array.isArray(handlers)) state[field] = handlers.map(matchHeartbeatAsTimeout);
    }
  }
}

function matchHeartbeatAsTimeout(handler: JsonValue): JsonValue {
  if (!isJsonObject(handler) || !Array.isArray(handler.ErrorEquals)) return handler;
  const names = handler.ErrorEquals;
  if (!names.includes('States.Timeout') || names.includes('States.HeartbeatTimeout')) return handler;
  return { ...handler, ErrorEquals: [...names, 'States.HeartbeatTimeout'] };
}

function substitute(
  value: JsonValue,
  path: string,
  isBinding: (value: JsonValue, path: string) => boolean,
  substitutions: Readonly<Record<string, string>>,
  onMissing: (name: string) => void,
): JsonValue {
  if (typeof value === 'string') {
    if (isBinding(value, path)) return value;
    return value.replace(ANY_PLACEHOLDER, (whole, name: string) => {
      if (Object.hasOwn(substitutions, name)) return substitutions[name] ?? whole;
      onMissing(name);
      return whole;
    });
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, path, isBinding, substitutions, onMissing));
  if (!isJsonObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, substitute(v, `${path}.${k}`, isBinding, substitutions, onMissing)]),
  );
}

function injectTokenSentinel(template: JsonValue): JsonValue {
  if (Array.isArray(template)) return template.map(injectTokenSentinel);
  if (!isJsonObject(template)) return template;
  return Object.fromEntries(
    Object.entries(template).map(([key, value]) =>
      key.endsWith('.$') && value === '$$.Task.Token'
        ? [key.slice(0, -2), TASK_TOKEN_SENTINEL]
        : [key, injectTokenSentinel(value)],
    ),
  );
}

/** Replaces every sentinel string in a resolved input with the invocation's task token. */
export function fillTaskToken(value: JsonValue, token: string): JsonValue {
  if (value === TASK_TOKEN_SENTINEL) return token;
  if (Array.isArray(value)) return value.map((item) => fillTaskToken(item, token));
  if (!isJsonObject(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillTaskToken(v, token)]));
}
