import { ExecutionError as LibraryExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { StatesTaskError } from './invocation.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json.js';
import { causeText } from './run-events.js';

/**
 * The library overwrites `$$.Execution.Input` and `StartTime` of the context it is given with its own run's; the
 * templates evaluated here must see the real execution's, so their `$$.Execution` paths read this key instead.
 */
const EXECUTION_KEY = 'HomeboundExecution';

/**
 * A JSONPath payload template (`"key.$": "$.path"`, intrinsic functions, `$$` context paths) evaluated exactly as the
 * library evaluates Parameters: by running a one-state Pass machine over it. Used where the runner does a state's
 * work itself (a Distributed Map's ItemReader, ItemSelector, BatchInput and ResultWriter parameters).
 */
export class PayloadTemplate {
  private readonly machine: StateMachine;

  constructor(template: JsonObject) {
    const parameters = readExecutionKey(template);
    // The definition was validated as a whole at load; this tiny one needs no second pass through the validator.
    this.machine = new StateMachine(
      { StartAt: 'Evaluate', States: { Evaluate: { Type: 'Pass', Parameters: parameters, End: true } } },
      { validationOptions: { noValidate: true } },
    );
  }

  /**
   * The template's value for an input and a context object (`Execution`, `StateMachine`, `Map`, ...).
   * @throws StatesTaskError named like the library's failure (e.g. States.Runtime for a path that matches nothing).
   */
  async evaluate(input: JsonValue, context: JsonObject): Promise<JsonValue> {
    const run = this.machine.run(input, { context: { ...context, [EXECUTION_KEY]: context.Execution ?? null } });
    try {
      const value: JsonValue = await run.result;
      return value;
    } catch (error) {
      if (error instanceof LibraryExecutionError && error.cause instanceof Error) {
        throw new StatesTaskError(error.cause.name, causeText(error.cause.cause ?? error.cause.message));
      }
      throw error;
    }
  }
}

/** The value of one reference path (e.g. ItemsPath) over an input. */
export function pathTemplate(path: string): PayloadTemplate {
  return new PayloadTemplate({ 'value.$': path });
}

function readExecutionKey(template: JsonValue): JsonValue {
  if (Array.isArray(template)) return template.map(readExecutionKey);
  if (!isJsonObject(template)) return template;
  return Object.fromEntries(
    Object.entries(template).map(([key, value]) =>
      key.endsWith('.$') && typeof value === 'string'
        ? [key, value.replaceAll('$$.Execution', () => `$$.${EXECUTION_KEY}`)]
        : [key, readExecutionKey(value)],
    ),
  );
}
