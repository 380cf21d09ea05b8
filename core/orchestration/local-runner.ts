/**
 * Runs a homebound ASL file in-process with `aws-local-stepfunctions`, binding each Task to a local handler.
 *
 * The same `statemachines/*.asl.json` that CDK deploys runs here unchanged. Everything the library would run
 * differently from AWS is rejected at load (see definition-checks.ts), and what it cannot do natively is emulated:
 * per-invocation task tokens for .waitForTaskToken Tasks, Activity Tasks served to workers through ActivityQueues
 * (both enforce HeartbeatSeconds), Lambda-style error names and causes, abort signals for handlers on timeout,
 * Distributed Map (child executions, ItemReader/ResultWriter on S3, batching, tolerated failures; distributed-map.ts).
 * HeartbeatSeconds of request-response Tasks is accepted and ignored (reported in `warnings`).
 */
import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { StateMachine } from 'aws-local-stepfunctions';
import { ActivityQueues } from './activity-queues.js';
import { readDefinition, walkStates } from './asl-walk.js';
import { checkDefinition } from './definition-checks.js';
import { planDistributedMaps } from './distributed-map.js';
import { isDistributedMap } from './distributed-map-config.js';
import { InvalidRunnerOptionsError, MissingS3ClientError } from './errors.js';
import {
  type ChildExecutionLog,
  createLibraryMachine,
  type LocalChildExecution,
  type MachineRuntime,
  startExecution,
} from './execution.js';
import { type JsonObject, type JsonValue, jsonCopy } from './json.js';
import { prepareDefinition } from './prepare-definition.js';
import type { LocalRunEvent } from './run-events.js';
import { bindTasks } from './task-bindings.js';
import type { TaskHandler } from './task-invoker.js';
import type { TaskTokenRegistry } from './task-tokens.js';

export {
  type ActivityDescription,
  ActivityQueues,
  type ActivityTaskRequest,
  type DeliveredActivityTask,
  localActivityArn,
  type ScheduledActivityTask,
} from './activity-queues.js';
export { DISTRIBUTED_MAP_CONCURRENCY_CAP } from './distributed-map.js';
export * from './errors.js';
export type { LocalChildExecution } from './execution.js';
export { type JsonObject, type JsonValue, NotJsonSerializableError } from './json.js';
export type { LocalRunEvent } from './run-events.js';
export type { TaskContext, TaskHandler } from './task-invoker.js';
export { type PendingTask, TaskTokenRegistry } from './task-tokens.js';

/** How to load a state machine for local runs. */
export interface LocalRunnerOptions {
  /** The ASL definition, or the path of an `.asl.json` file. Never modified. */
  readonly definition: object | string;
  /**
   * Handlers by placeholder name (`ValidateRequestFunctionArn` for `"${ValidateRequestFunctionArn}"`), found in a
   * Task's `Resource` or, for `lambda:invoke[.waitForTaskToken]`, in `Parameters.FunctionName`.
   */
  readonly handlers: Readonly<Record<string, TaskHandler>>;
  /** Handlers by state name; win over `handlers`. For Tasks without a placeholder, or a test double for one state. */
  readonly stateHandlers?: Readonly<Record<string, TaskHandler>>;
  /**
   * Activity ARNs by placeholder name (`AgentActivityArn` for `"Resource": "${AgentActivityArn}"`): such a Task is
   * scheduled on `activityQueues` and completed by the worker that polls it. @default {}
   */
  readonly activities?: Readonly<Record<string, string>>;
  /**
   * Where Activity Tasks are queued — the local cloud's `cloud.activities`, so workers reach them through its
   * activity API. Its registry is the machine's task-token registry. @default new queues over `taskTokens`
   */
  readonly activityQueues?: ActivityQueues;
  /**
   * HeartbeatSeconds in milliseconds by state name (Activity and .waitForTaskToken Tasks, the ones that enforce it),
   * e.g. for a drill. @default none
   */
  readonly heartbeatOverrides?: Readonly<Record<string, number>>;
  /** Values for other `${Name}` placeholders, as CDK's DefinitionSubstitutions would fill them. @default {} */
  readonly substitutions?: Readonly<Record<string, string>>;
  /**
   * Where task tokens are opened and completed; share one with a local approval server. Must be
   * `activityQueues.taskTokens` when both are given. @default activityQueues' registry, else a new one
   */
  readonly taskTokens?: TaskTokenRegistry;
  /** Wait state durations in milliseconds by state name, instead of Seconds/Timestamp. @default none */
  readonly waitOverrides?: Readonly<Record<string, number>>;
  /**
   * Pause before each retry in milliseconds by state name (one number, or one per retrier), instead of
   * IntervalSeconds × BackoffRate^attempt. @default none
   */
  readonly retryIntervalOverrides?: Readonly<Record<string, number | readonly number[]>>;
  /** The state machine name for `$$.StateMachine.Name` and ARNs. @default the file name without `.asl.json` */
  readonly name?: string;
  /**
   * The S3 client Distributed Maps read their ItemReader from and export their ResultWriter files to (the local
   * cloud's s3rver in drills and tests). Required when a definition has either. @default none
   */
  readonly s3?: S3Client;
}

/** Options of one execution. */
export interface LocalRunOptions {
  /** `$$.Execution.Name`. @default `local-<uuid>` */
  readonly executionName?: string;
  /** Called for every event as it happens. Exceptions it throws become process warnings, never run failures. */
  readonly onEvent?: (event: LocalRunEvent) => void;
  /** Called for every event of a Distributed Map's child executions (their `executionName` is the child's). */
  readonly onChildEvent?: (event: LocalRunEvent) => void;
}

/** A running execution. */
export interface LocalExecution {
  readonly executionName: string;
  readonly executionArn: string;
  /**
   * The execution's output, once every event has been reported.
   * @throws ExecutionFailedError (with `error` and `cause`), ExecutionTimedOutError, ExecutionAbortedError.
   */
  readonly result: Promise<JsonValue>;
  /** Every event so far, in order; complete once `result` settles. */
  readonly history: readonly LocalRunEvent[];
  /** The child executions Distributed Maps started so far (nested map runs included), each with its history. */
  readonly childExecutions: readonly LocalChildExecution[];
  /** Stops the execution; `result` rejects with ExecutionAbortedError and handlers' signals abort. */
  abort(): void;
}

/** A state machine definition loaded, checked and bound for local runs. */
export class LocalStateMachine {
  readonly stateMachineArn: string;

  private constructor(
    private readonly library: StateMachine,
    /** `$$.StateMachine.Name`. */
    readonly name: string,
    /** What behaves differently locally but is allowed, e.g. HeartbeatSeconds being ignored. */
    readonly warnings: readonly string[],
    private readonly runtime: MachineRuntime,
  ) {
    this.stateMachineArn = `arn:aws:states:local:000000000000:stateMachine:${name}`;
  }

  /**
   * Reads, checks and binds a definition. Nothing runs and nothing touches the network.
   * @throws UnboundTaskError when a Task has no handler; the LocalDefinitionError subclasses for constructs that
   *   would run differently locally; InvalidDefinitionError for a file that is not valid ASL;
   *   UnresolvedSubstitutionError; InvalidRunnerOptionsError for overrides naming the wrong states, or a taskTokens
   *   registry other than activityQueues'; InvalidActivityNameError for an activity value that is not an activity ARN;
   *   MissingS3ClientError when a Distributed Map has an ItemReader or ResultWriter and `s3` is not given.
   */
  static load(options: LocalRunnerOptions): LocalStateMachine {
    const machine = readDefinition(options.definition);
    const activities = options.activities ?? {};
    const warnings = checkDefinition(machine, new Set(Object.keys(activities)));
    const tasks = bindTasks(machine, {
      handlers: options.handlers,
      stateHandlers: options.stateHandlers ?? {},
      activities,
    });
    const activityQueues = options.activityQueues ?? new ActivityQueues(options.taskTokens);
    if (options.taskTokens !== undefined && options.taskTokens !== activityQueues.taskTokens) {
      throw new InvalidRunnerOptionsError(
        'taskTokens must be the registry of activityQueues (activityQueues.taskTokens)',
      );
    }
    // As deploying the stack creates its activities, loading makes them known to the queues (and their API).
    for (const activityArn of Object.values(activities)) activityQueues.registerActivity(activityArn);
    // The Tasks that enforce HeartbeatSeconds locally.
    const heartbeatStates = new Set(
      tasks.filter((task) => task.activityArn !== undefined || task.waitForTaskToken).map((t) => t.stateName),
    );
    const heartbeatOverrides = checkOverrides(
      machine,
      'heartbeatOverrides',
      options.heartbeatOverrides ?? {},
      (_, name) => heartbeatStates.has(name),
    );
    const waitOverrides = checkOverrides(
      machine,
      'waitOverrides',
      options.waitOverrides ?? {},
      (s) => s.Type === 'Wait',
    );
    const retryIntervalOverrides = checkOverrides(
      machine,
      'retryIntervalOverrides',
      options.retryIntervalOverrides ?? {},
      (s) => Array.isArray(s.Retry),
    );
    if (options.s3 === undefined) assertNeedsNoS3(machine);
    const prepared = prepareDefinition(machine, options.substitutions ?? {});
    const mapRunners = planDistributedMaps(prepared);
    const library = createLibraryMachine(prepared);
    const name = options.name ?? defaultName(options.definition);
    return new LocalStateMachine(library, name, warnings, {
      tasks,
      mapRunners,
      waitOverrides: { ...waitOverrides },
      retryIntervalOverrides: Object.fromEntries(
        Object.entries(retryIntervalOverrides).map(([k, v]) => [k, typeof v === 'number' ? v : [...v]]),
      ),
      heartbeatOverrides: { ...heartbeatOverrides },
      taskTokens: activityQueues.taskTokens,
      activityQueues,
      s3: options.s3,
    });
  }

  /** Where this machine's task tokens are opened; complete them here. */
  get taskTokens(): TaskTokenRegistry {
    return this.runtime.taskTokens;
  }

  /** Where this machine's Activity Tasks are queued for workers. */
  get activityQueues(): ActivityQueues {
    return this.runtime.activityQueues;
  }

  /** Names of the Task states, Map iterators included, in definition order. */
  get taskStates(): string[] {
    return this.runtime.tasks.map((task) => task.stateName);
  }

  /** The handler bound to a Task state, e.g. to wrap it with an injected fault. Undefined for other names. */
  handlerFor(stateName: string): TaskHandler | undefined {
    return this.runtime.tasks.find((task) => task.stateName === stateName)?.handler;
  }

  /** Names of the Wait states of a definition (for waitOverrides), without binding anything. */
  static waitStates(definition: object | string): string[] {
    return [...walkStates(readDefinition(definition))].filter((v) => v.state.Type === 'Wait').map((v) => v.name);
  }

  /**
   * Starts an execution. The input is copied through JSON, as AWS would.
   * @throws NotJsonSerializableError when the input is not JSON.
   */
  run(input: unknown, options: LocalRunOptions = {}): LocalExecution {
    const executionName = options.executionName ?? `local-${randomUUID()}`;
    const executionArn = `arn:aws:states:local:000000000000:execution:${this.name}:${executionName}`;
    const history: LocalRunEvent[] = [];
    const emit = (event: LocalRunEvent) => {
      history.push(event);
      try {
        options.onEvent?.(event);
      } catch (error) {
        process.emitWarning(
          `onEvent threw on ${event.type}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    };
    const log: ChildExecutionLog = { children: [], onChildEvent: options.onChildEvent };
    const execution = startExecution({
      library: this.library,
      input: jsonCopy(input, 'the execution input'),
      executionName,
      executionArn,
      stateMachine: { Id: this.stateMachineArn, Name: this.name },
      runtime: this.runtime,
      log,
      emit,
    });
    return {
      executionName,
      executionArn,
      result: execution.result,
      history,
      childExecutions: log.children,
      abort: () => execution.abort(),
    };
  }
}

/**
 * A Distributed Map that reads or writes S3 needs the client to do it with.
 * @throws MissingS3ClientError naming the state and the field.
 */
function assertNeedsNoS3(machine: JsonObject): void {
  for (const { name, state } of walkStates(machine)) {
    if (!isDistributedMap(state)) continue;
    for (const field of ['ItemReader', 'ResultWriter']) {
      if (field in state) {
        throw new MissingS3ClientError(
          name,
          `${field} needs an S3 client: pass the s3 option to LocalStateMachine.load`,
        );
      }
    }
  }
}

function checkOverrides<T>(
  machine: JsonObject,
  option: string,
  overrides: Readonly<Record<string, T>>,
  applies: (state: JsonObject, name: string) => boolean,
): Readonly<Record<string, T>> {
  const eligible = new Set([...walkStates(machine)].filter((v) => applies(v.state, v.name)).map((v) => v.name));
  const strangers = Object.keys(overrides).filter((name) => !eligible.has(name));
  if (strangers.length > 0) {
    throw new InvalidRunnerOptionsError(`${option} names no state it can apply to: ${strangers.join(', ')}`);
  }
  return overrides;
}

function defaultName(definition: object | string): string {
  return typeof definition === 'string' ? basename(definition).replace(/(\.asl)?\.json$/, '') : 'LocalStateMachine';
}
