/**
 * One execution on the library: the top-level run of a LocalStateMachine, and each child execution a Distributed Map
 * starts. Both bind the same Task invokers and overrides, translate the library's events and failures, and end their
 * handlers' signals when they end.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import {
  ExecutionAbortedError as LibraryExecutionAbortedError,
  ExecutionError as LibraryExecutionError,
  ExecutionTimeoutError as LibraryExecutionTimeoutError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import type { ActivityQueues } from './activity-queues.js';
import {
  ExecutionAbortedError,
  ExecutionFailedError,
  ExecutionTimedOutError,
  InvalidDefinitionError,
} from './errors.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json.js';
import { causeText, type LocalRunEvent, translateEvents } from './run-events.js';
import type { BoundTask } from './task-bindings.js';
import { createTaskInvoker, type InvocationScope } from './task-invoker.js';
import type { TaskTokenRegistry } from './task-tokens.js';

type LibraryRetryOverrides = Record<string, number | number[]>;

/** The state machine's `$$.StateMachine`. */
export interface StateMachineRef {
  readonly Id: string;
  readonly Name: string;
}

/** A child execution a Distributed Map started, with its own history (as ListExecutions by map run shows them). */
export interface LocalChildExecution {
  readonly executionName: string;
  readonly executionArn: string;
  readonly mapRunArn: string;
  /** The Distributed Map state that started it. */
  readonly stateName: string;
  readonly input: JsonValue;
  /** Its own events, `executionName` being the child's; complete once it has ended. */
  readonly history: readonly LocalRunEvent[];
  readonly status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  readonly startDate: Date;
  readonly stopDate: Date | undefined;
  readonly output: JsonValue | undefined;
  readonly error: string | undefined;
  readonly cause: string | undefined;
}

/** Where the map runs of one top-level execution record their children (nested map runs included). */
export interface ChildExecutionLog {
  readonly children: LocalChildExecution[];
  readonly onChildEvent: ((event: LocalRunEvent) => void) | undefined;
}

/** What every execution of one loaded machine shares. */
export interface MachineRuntime {
  readonly tasks: readonly BoundTask[];
  /** The Distributed Map states, which the library runs as Tasks bound to their map run. */
  readonly mapRunners: ReadonlyMap<string, MapRunner>;
  readonly waitOverrides: Record<string, number>;
  readonly retryIntervalOverrides: LibraryRetryOverrides;
  readonly heartbeatOverrides: Record<string, number>;
  readonly taskTokens: TaskTokenRegistry;
  readonly activityQueues: ActivityQueues;
  readonly s3: S3Client | undefined;
}

/** What a Distributed Map's run needs to know about the execution it runs in. */
export interface MapRunScope extends InvocationScope {
  readonly execution: JsonObject;
  readonly stateMachine: StateMachineRef;
  readonly runtime: MachineRuntime;
  readonly log: ChildExecutionLog;
}

/** Runs one Distributed Map state for its effective input; resolves with the state's result. */
export type MapRunner = (scope: MapRunScope, input: JsonValue) => Promise<JsonValue>;

/** One execution to start. */
export interface ExecutionRequest {
  readonly library: StateMachine;
  /** Already a JSON copy. */
  readonly input: JsonValue;
  readonly executionName: string;
  readonly executionArn: string;
  readonly stateMachine: StateMachineRef;
  readonly runtime: MachineRuntime;
  readonly log: ChildExecutionLog;
  readonly emit: (event: LocalRunEvent) => void;
}

/** An execution in progress. */
export interface RunningExecution {
  /** @throws ExecutionFailedError, ExecutionTimedOutError, ExecutionAbortedError. */
  readonly result: Promise<JsonValue>;
  abort(): void;
}

/** Starts an execution on the library with every Task and Distributed Map bound. */
export function startExecution(request: ExecutionRequest): RunningExecution {
  const { executionName, executionArn, runtime, emit } = request;
  const executionEnded = new AbortController();
  const scope: InvocationScope = {
    executionName,
    executionSignal: executionEnded.signal,
    taskTokens: runtime.taskTokens,
    activities: runtime.activityQueues,
    heartbeatOverrides: runtime.heartbeatOverrides,
    emit,
  };
  const mapScope: MapRunScope = {
    ...scope,
    execution: { Id: executionArn, Name: executionName, Input: request.input, StartTime: new Date().toISOString() },
    stateMachine: request.stateMachine,
    runtime,
    log: request.log,
  };
  const handlers: Record<string, (input: JsonValue) => Promise<JsonValue>> = Object.fromEntries(
    runtime.tasks.map((task) => [task.stateName, createTaskInvoker(task, scope)]),
  );
  for (const [stateName, runMap] of runtime.mapRunners) handlers[stateName] = (input) => runMap(mapScope, input);
  const execution = request.library.run(request.input, {
    overrides: {
      taskResourceLocalHandlers: handlers,
      waitTimeOverrides: runtime.waitOverrides,
      retryIntervalOverrides: runtime.retryIntervalOverrides,
    },
    context: {
      Execution: { Id: executionArn, Name: executionName },
      StateMachine: { ...request.stateMachine },
    },
  });
  const drained = translateEvents(execution.eventLogs, executionName, emit, new Set(runtime.mapRunners.keys()));
  const result = (async () => {
    try {
      const output: JsonValue = await execution.result;
      await drained;
      return output;
    } catch (error) {
      await drained;
      throw translateFailure(error, executionName);
    } finally {
      executionEnded.abort();
    }
  })();
  return {
    result,
    abort: () => {
      // The library first, so the run settles as aborted before aborted handlers can fail their states.
      execution.abort();
      executionEnded.abort();
    },
  };
}

function translateFailure(error: unknown, executionName: string): unknown {
  if (error instanceof LibraryExecutionAbortedError) return new ExecutionAbortedError(executionName);
  if (error instanceof LibraryExecutionTimeoutError) return new ExecutionTimedOutError(executionName);
  if (error instanceof LibraryExecutionError && error.cause instanceof Error) {
    const failure = error.cause;
    return new ExecutionFailedError(executionName, failure.name, causeText(failure.cause ?? failure.message));
  }
  return error;
}

/** Definitions the library's validator accepted, by JSON text: it compiles its JSON schemas anew on every call. */
const validatedDefinitions = new Set<string>();
const MAX_REMEMBERED_DEFINITIONS = 64;

/**
 * The library's machine for a prepared definition (validated once per distinct definition).
 * @throws InvalidDefinitionError when the library's validator refuses it.
 */
export function createLibraryMachine(prepared: JsonObject, owner?: string): StateMachine {
  if (!isStateMachineDefinition(prepared)) throw new InvalidDefinitionError(owner, 'not a state machine');
  // Taken before validation, which adds QueryLanguage to every state it sees.
  const text = JSON.stringify(prepared);
  const validated = validatedDefinitions.has(text);
  try {
    const library = new StateMachine(prepared, validated ? { validationOptions: { noValidate: true } } : undefined);
    if (validatedDefinitions.size >= MAX_REMEMBERED_DEFINITIONS) validatedDefinitions.clear();
    validatedDefinitions.add(text);
    return library;
  } catch (error) {
    throw new InvalidDefinitionError(owner, error instanceof Error ? error.message : String(error), {
      cause: error,
    });
  }
}

function isStateMachineDefinition(value: JsonObject): value is JsonObject & StateMachineDefinition {
  // readDefinition and checkDefinition have checked the shape in depth; this narrows the type for the library.
  return typeof value.StartAt === 'string' && isJsonObject(value.States);
}
