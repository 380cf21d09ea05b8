import { childMachines, NESTED_MACHINE_FIELDS, placeholderName, type VisitedState, walkStates } from './asl-walk.js';
import { DISTRIBUTED_ONLY_FIELDS, isDistributedMap, parseDistributedMap } from './distributed-map-config.js';
import {
  AssignNotSupportedError,
  DistributedMapNotSupportedError,
  DuplicateStateNameError,
  FalsyPassResultError,
  InvalidDefinitionError,
  JsonataNotSupportedError,
  MissingTaskTimeoutError,
  RootResultPathError,
  UnsupportedContextPathError,
} from './errors.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json.js';

/**
 * Node's setTimeout fires after 1 ms when asked for more than 2^31-1 ms (~24.8 days), and the library uses it for
 * Task timeouts and Wait states; longer durations are clamped to this (see prepareDefinition) and reported.
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** Fields whose `.$` keys hold paths; elsewhere in a state, paths live in `*Path` fields and Choice `Variable`s. */
const PAYLOAD_TEMPLATE_FIELDS = new Set(['Parameters', 'ItemSelector', 'ResultSelector']);

/** True for a Task that waits for SendTaskSuccess/SendTaskFailure. */
export function isWaitForTaskToken(state: JsonObject): boolean {
  return typeof state.Resource === 'string' && state.Resource.endsWith('.waitForTaskToken');
}

/**
 * Rejects every construct that `aws-local-stepfunctions` would run differently from AWS, naming the state.
 * Returns warnings for what is accepted but behaves differently locally (HeartbeatSeconds, timers over ~24.8 days).
 * @throws JsonataNotSupportedError, DistributedMapNotSupportedError (naming the field), InvalidDefinitionError (a
 *   Distributed Map value AWS would refuse), AssignNotSupportedError, RootResultPathError,
 *   FalsyPassResultError, MissingTaskTimeoutError, UnsupportedContextPathError, DuplicateStateNameError
 */
export function checkDefinition(machine: JsonObject, activityPlaceholders: ReadonlySet<string> = new Set()): string[] {
  const warnings: string[] = [];
  if (machine.QueryLanguage === 'JSONata') {
    throw new JsonataNotSupportedError(undefined, 'QueryLanguage JSONata is not supported locally; use JSONPath');
  }
  if (typeof machine.TimeoutSeconds === 'number' && machine.TimeoutSeconds > MAX_TIMER_SECONDS) {
    warnings.push(`the execution TimeoutSeconds is capped at ${MAX_TIMER_SECONDS} s locally (Node timer limit)`);
  }
  const seen = new Set<string>();
  for (const visit of walkStates(machine)) {
    if (seen.has(visit.name)) {
      throw new DuplicateStateNameError(visit.name, 'state names must be unique across the whole machine');
    }
    seen.add(visit.name);
    checkState(visit, warnings, activityPlaceholders);
  }
  return warnings;
}

function checkState(visit: VisitedState, warnings: string[], activityPlaceholders: ReadonlySet<string>): void {
  const { name, state } = visit;
  checkQueryLanguage(name, state);
  if (assignsVariables(state)) {
    throw new AssignNotSupportedError(name, 'Assign (variables) is silently ignored by the local runner');
  }
  checkResultPaths(name, state);
  checkPaths(visit);
  switch (visit.type) {
    case 'Map':
      if (isDistributedMap(state)) checkDistributedMap(name, state, activityPlaceholders);
      else checkInlineMap(name, state);
      break;
    case 'Pass':
      if ('Result' in state && !state.Result) {
        throw new FalsyPassResultError(
          name,
          `Result ${JSON.stringify(state.Result)} is falsy and the library would pass the input through instead; wrap it in an object`,
        );
      }
      break;
    case 'Task':
      checkTaskTimeouts(name, state, warnings, activityPlaceholders);
      break;
    case 'Wait':
      if (typeof state.Seconds === 'number' && state.Seconds > MAX_TIMER_SECONDS) {
        warnings.push(`state "${name}": Wait Seconds is capped at ${MAX_TIMER_SECONDS} s locally (Node timer limit)`);
      }
      break;
    default:
      break;
  }
}

function checkQueryLanguage(name: string, state: JsonObject): void {
  if (state.QueryLanguage === 'JSONata' || 'Arguments' in state || 'Output' in state) {
    throw new JsonataNotSupportedError(name, 'JSONata (QueryLanguage, Arguments, Output) is not supported locally');
  }
  for (const child of childMachines(name, state)) {
    if (child.QueryLanguage === 'JSONata') {
      throw new JsonataNotSupportedError(name, 'its nested machine uses QueryLanguage JSONata');
    }
  }
}

function checkResultPaths(name: string, state: JsonObject): void {
  const advice = 'the library would write a key named "$"; omit ResultPath to replace the input with the result';
  if (state.ResultPath === '$') throw new RootResultPathError(name, `ResultPath "$": ${advice}`);
  for (const catcher of asObjects(state.Catch)) {
    if (catcher.ResultPath === '$') {
      throw new RootResultPathError(name, `a Catch with ResultPath "$": ${advice}`);
    }
  }
}

function checkInlineMap(name: string, state: JsonObject): void {
  for (const field of DISTRIBUTED_ONLY_FIELDS) {
    if (field in state) {
      throw new DistributedMapNotSupportedError(
        name,
        `${field} belongs to a Distributed Map; set ItemProcessor.ProcessorConfig.Mode to DISTRIBUTED or drop it`,
      );
    }
  }
}

/** What the runner emulates of a Distributed Map (see distributed-map-config.ts), and what an EXPRESS child allows. */
function checkDistributedMap(name: string, state: JsonObject, activityPlaceholders: ReadonlySet<string>): void {
  const config = parseDistributedMap(name, state);
  if (config.executionType !== 'EXPRESS') return;
  // Express workflows cannot wait for a callback or an activity worker; AWS refuses such a definition.
  for (const visit of walkStates(config.processor, true)) {
    if (visit.type !== 'Task') continue;
    const placeholder = placeholderName(visit.state.Resource);
    if (isWaitForTaskToken(visit.state) || (placeholder !== undefined && activityPlaceholders.has(placeholder))) {
      throw new InvalidDefinitionError(
        visit.name,
        `ItemProcessor.ProcessorConfig.ExecutionType EXPRESS of "${name}" allows no .waitForTaskToken or activity Task`,
      );
    }
  }
}

function checkTaskTimeouts(
  name: string,
  state: JsonObject,
  warnings: string[],
  activityPlaceholders: ReadonlySet<string>,
): void {
  const timeout = state.TimeoutSeconds;
  // A timeout read from the input (e.g. an approval window the request chooses) is honoured by the library; a path
  // that does not resolve to a positive integer fails that task at run time, as States.Runtime does on AWS.
  if (
    timeout === undefined &&
    typeof state.TimeoutSecondsPath === 'string' &&
    state.TimeoutSecondsPath.startsWith('$')
  ) {
    return;
  }
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1) {
    throw new MissingTaskTimeoutError(
      name,
      'every Task needs an explicit positive integer TimeoutSeconds or a TimeoutSecondsPath: AWS applies no task timeout and the library silently applies 60 s',
    );
  }
  if (timeout > MAX_TIMER_SECONDS) {
    warnings.push(`state "${name}": TimeoutSeconds is capped at ${MAX_TIMER_SECONDS} s locally (Node timer limit)`);
  }
  // Activity and .waitForTaskToken Tasks enforce it; a request-response Task has no token to send heartbeats with.
  const placeholder = placeholderName(state.Resource);
  const isActivity = placeholder !== undefined && activityPlaceholders.has(placeholder);
  if (('HeartbeatSeconds' in state || 'HeartbeatSecondsPath' in state) && !isActivity && !isWaitForTaskToken(state)) {
    warnings.push(`state "${name}": HeartbeatSeconds is ignored locally (no heartbeat timeout)`);
  }
}

/** True if the state assigns variables where ASL allows it: on the state, a Catch, or a Choice rule. */
function assignsVariables(state: JsonObject): boolean {
  const holders = [state, ...asObjects(state.Catch), ...asObjects(state.Choices)];
  return holders.some((holder) => 'Assign' in holder);
}

function asObjects(value: JsonValue | undefined): JsonObject[] {
  return Array.isArray(value) ? value.filter(isJsonObject) : [];
}

interface PathString {
  readonly text: string;
  /** The state's own field the string sits under (e.g. Parameters, ItemsPath, Choices). */
  readonly field: string;
  readonly key: string;
}

function* pathStrings(value: JsonValue, field: string, key: string): Generator<PathString> {
  if (typeof value === 'string') {
    const isPath = PAYLOAD_TEMPLATE_FIELDS.has(field)
      ? key.endsWith('.$')
      : key.endsWith('.$') || key.endsWith('Path') || key === 'Variable';
    if (isPath) yield { text: value, field, key };
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) yield* pathStrings(item, field, key);
    return;
  }
  if (isJsonObject(value)) {
    for (const [k, v] of Object.entries(value)) yield* pathStrings(v, field, k);
  }
}

function checkPaths(visit: VisitedState): void {
  for (const [field, value] of Object.entries(visit.state)) {
    if (NESTED_MACHINE_FIELDS.has(field)) continue;
    for (const path of pathStrings(value, field, field)) {
      if (/^\$[A-Za-z_]/.test(path.text) || (path.text.startsWith('States.') && /[(,\s]\$[A-Za-z_]/.test(path.text))) {
        throw new AssignNotSupportedError(visit.name, `${path.text} reads a variable; variables are not supported`);
      }
      for (const match of path.text.matchAll(/\$\$(?:\.[A-Za-z0-9_]+)*/g)) checkContextPath(visit, path, match[0]);
    }
  }
}

function checkContextPath(visit: VisitedState, at: PathString, path: string): void {
  const [root, field, ...rest] = path.split('.').slice(1);
  const reject = (reason: string) => {
    throw new UnsupportedContextPathError(visit.name, path, reason);
  };
  const iterationQuirk =
    'inside a Map iterator or Parallel branch the library reports the iteration, not the execution; pass what it needs through the Map ItemSelector or Parameters';
  if (root === undefined) {
    if (visit.nested) reject(iterationQuirk);
    return;
  }
  if (root === 'Task') {
    const asWholeParameter = at.field === 'Parameters' && at.key.endsWith('.$') && at.text === '$$.Task.Token';
    if (field === 'Token' && rest.length === 0 && asWholeParameter && isWaitForTaskToken(visit.state)) return;
    reject('$$.Task.Token is only available to .waitForTaskToken Tasks, as the whole value of a "key.$" in Parameters');
  }
  if (root === 'Map') {
    const inItemSelector = visit.type === 'Map' && (at.field === 'ItemSelector' || at.field === 'Parameters');
    if (inItemSelector && field === 'Item' && (rest[0] === 'Index' || rest[0] === 'Value')) return;
    reject(
      '$$.Map.Item.Index/Value exist only in the Map state own ItemSelector; pass them to the iterator from there',
    );
  }
  if (root === 'StateMachine' && (field === 'Id' || field === 'Name') && rest.length === 0) return;
  if (root === 'Execution') {
    if ((field === 'Id' || field === 'Name') && rest.length === 0) return;
    if (field === undefined || field === 'Input' || field === 'StartTime') {
      if (visit.nested) reject(iterationQuirk);
      return;
    }
  }
  reject(
    'the local runner provides only $$.Execution.{Id,Name,Input,StartTime}, $$.StateMachine.{Id,Name}, $$.Map.Item and $$.Task.Token',
  );
}
