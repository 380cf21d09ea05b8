import type { StateMachine } from 'aws-local-stepfunctions';
import type { JsonValue } from './json.js';

interface EventBase {
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  readonly executionName: string;
}

interface StateRef {
  readonly stateName: string;
  readonly stateType: string;
  /** The Map iteration the state ran in, if any (innermost Map only). */
  readonly mapIndex: number | undefined;
}

interface Failure {
  readonly error: string;
  readonly cause: string;
}

/** Progress of a local execution, in the order the library reports it. */
export type LocalRunEvent =
  | (EventBase & { readonly type: 'ExecutionStarted'; readonly input: JsonValue })
  | (EventBase & { readonly type: 'ExecutionSucceeded'; readonly output: JsonValue })
  | (EventBase & Failure & { readonly type: 'ExecutionFailed' })
  | (EventBase & { readonly type: 'ExecutionAborted' | 'ExecutionTimedOut' })
  | (EventBase & StateRef & { readonly type: 'StateEntered'; readonly input: JsonValue })
  | (EventBase &
      StateRef & {
        readonly type: 'StateExited';
        readonly output: JsonValue;
        /** From this state's StateEntered, so retries and waits for a task token are included. */
        readonly durationMs: number;
      })
  | (EventBase & StateRef & Failure & { readonly type: 'StateFailed' })
  /** `attempt` counts retries of this entry into the state, from 1. */
  | (EventBase & StateRef & { readonly type: 'StateRetried'; readonly attempt: number })
  | (EventBase & StateRef & { readonly type: 'StateCaught'; readonly next: string })
  | (EventBase & {
      readonly type: 'MapIterationStarted' | 'MapIterationSucceeded';
      readonly stateName: string;
      readonly index: number;
    })
  | (EventBase & Failure & { readonly type: 'MapIterationFailed'; readonly stateName: string; readonly index: number })
  | (EventBase & { readonly type: 'ParallelBranchStarted' | 'ParallelBranchSucceeded'; readonly stateName: string })
  | (EventBase & Failure & { readonly type: 'ParallelBranchFailed'; readonly stateName: string })
  /**
   * A Distributed Map started its map run: `itemCount` items in `childCount` child executions (one per batch). The
   * children's own events are in LocalExecution.childExecutions (and go to onChildEvent), not here, as on AWS.
   */
  | (EventBase & {
      readonly type: 'MapRunStarted';
      readonly stateName: string;
      readonly mapRunArn: string;
      readonly itemCount: number;
      readonly childCount: number;
    })
  | (EventBase & { readonly type: 'MapRunSucceeded'; readonly stateName: string; readonly mapRunArn: string })
  | (EventBase & Failure & { readonly type: 'MapRunFailed'; readonly stateName: string; readonly mapRunArn: string })
  /** A .waitForTaskToken Task opened a token; complete it through the TaskTokenRegistry (the token is not logged). */
  | (EventBase & { readonly type: 'TaskTokenIssued'; readonly stateName: string })
  /** An Activity Task was put on its activity's queue (each attempt of a Retry schedules a new one). */
  | (EventBase & { readonly type: 'ActivityScheduled'; readonly stateName: string })
  /** A worker took the Activity Task with GetActivityTask; HeartbeatSeconds counts from here. */
  | (EventBase & {
      readonly type: 'ActivityStarted';
      readonly stateName: string;
      readonly workerName: string | undefined;
    });

type LibraryEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** A failure's cause as text, the way Step Functions reports it. */
export function causeText(cause: unknown): string {
  if (typeof cause === 'string') return cause;
  if (cause instanceof Error) return cause.message;
  return cause === undefined ? '' : JSON.stringify(cause);
}

/**
 * Reads the library's event log to its end, translating each event and handing it to `emit`.
 * `mapStates` are the Distributed Maps the library runs as Tasks; their events say `stateType: "Map"`.
 * Resolves once the execution has reported its last event; never rejects.
 */
export async function translateEvents(
  events: AsyncGenerator<LibraryEvent>,
  executionName: string,
  emit: (event: LocalRunEvent) => void,
  mapStates: ReadonlySet<string> = new Set(),
): Promise<void> {
  const enteredAt = new Map<string, number>();
  for await (const event of events) {
    const base = { timestamp: event.timestamp, executionName };
    switch (event.type) {
      case 'ExecutionStarted':
        emit({ ...base, type: event.type, input: event.input });
        break;
      case 'ExecutionSucceeded':
        emit({ ...base, type: event.type, output: event.output });
        break;
      case 'ExecutionFailed':
        emit({ ...base, type: event.type, error: event.Error, cause: causeText(event.Cause) });
        break;
      case 'ExecutionAborted':
        emit({ ...base, type: 'ExecutionAborted' });
        break;
      case 'ExecutionTimeout':
        emit({ ...base, type: 'ExecutionTimedOut' });
        break;
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
        emit({ ...base, type: event.type, stateName: event.parentState.name, index: event.index });
        break;
      case 'MapIterationFailed':
        emit({ ...base, type: event.type, stateName: event.parentState.name, index: event.index, ...failure(event) });
        break;
      case 'ParallelBranchStarted':
      case 'ParallelBranchSucceeded':
        emit({ ...base, type: event.type, stateName: event.parentState.name });
        break;
      case 'ParallelBranchFailed':
        emit({ ...base, type: event.type, stateName: event.parentState.name, ...failure(event) });
        break;
      default: {
        const stateType = mapStates.has(event.state.name) ? 'Map' : event.state.type;
        const ref = { stateName: event.state.name, stateType, mapIndex: event.index };
        const key = `${ref.stateName}#${ref.mapIndex ?? ''}`;
        if (event.type === 'StateEntered') {
          enteredAt.set(key, event.timestamp);
          emit({ ...base, ...ref, type: event.type, input: event.state.input });
        } else if (event.type === 'StateExited') {
          const durationMs = event.timestamp - (enteredAt.get(key) ?? event.timestamp);
          emit({ ...base, ...ref, type: event.type, output: event.state.output ?? null, durationMs });
        } else if (event.type === 'StateFailed') {
          emit({ ...base, ...ref, type: event.type, ...failure(event) });
        } else if (event.type === 'StateRetried') {
          emit({ ...base, ...ref, type: event.type, attempt: event.retry.attempt });
        } else {
          emit({ ...base, ...ref, type: event.type, next: event.catch.catcher.Next });
        }
      }
    }
  }
}

function failure(event: { Error: string; Cause: unknown }): Failure {
  return { error: event.Error, cause: causeText(event.Cause) };
}
