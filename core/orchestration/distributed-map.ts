/**
 * Distributed Map emulation. The library knows only inline Maps, so at load each Distributed Map state of the
 * prepared definition becomes a Task (keeping InputPath, ResultSelector, ResultPath, OutputPath, Retry, Catch and
 * its transition) bound to a map runner, which does what AWS's map run does:
 *
 * 0. settings: MaxConcurrency, tolerances, batch limits, MaxItems — as values, or read through their `*Path`;
 * 1. items: from ItemReader (S3 getObject JSON array, or listObjectsV2) or from ItemsPath of the effective input;
 * 2. ItemSelector per item (`$$.Map.Item.Index/Value`), then ItemBatcher batches (`{ Items, BatchInput }`);
 * 3. one child execution per item or batch — its own name, ARN, `$$.Execution`, history — at most MaxConcurrency
 *    at once (0 = the local cap);
 * 4. every failed child counts its items as failed; beyond ToleratedFailureCount/Percentage (with neither set: any
 *    failure) the running children are aborted and the state fails with States.ExceedToleratedFailureThreshold;
 * 5. the result: the children's outputs in item order, or with ResultWriter the exported files' details.
 */
import { randomUUID } from 'node:crypto';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { walkStates } from './asl-walk.js';
import { MAX_TIMER_SECONDS } from './definition-checks.js';
import {
  type DistributedMapConfig,
  isDistributedMap,
  type MapRunSettings,
  parseDistributedMap,
} from './distributed-map-config.js';
import { type ChildResultEntry, readItems, writeResults } from './distributed-map-s3.js';
import { ExecutionAbortedError, ExecutionFailedError, ExecutionTimedOutError } from './errors.js';
import {
  createLibraryMachine,
  type LocalChildExecution,
  type MapRunner,
  type MapRunScope,
  startExecution,
} from './execution.js';
import { checkedOutput, StatesTaskError, TerminalStatesError } from './invocation.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json.js';
import { batchItems, type ChildWork, exceedsTolerance, MapRunSettingsReader, toleranceText } from './map-run-work.js';
import { PayloadTemplate, pathTemplate } from './payload-template.js';
import type { LocalRunEvent } from './run-events.js';

/**
 * Child executions running at once per map run, whatever MaxConcurrency says (AWS allows 10,000): they share one
 * process and, in drills, one machine's disks.
 */
export const DISTRIBUTED_MAP_CONCURRENCY_CAP = 40;

/** The fields a Task keeps from the Distributed Map it replaces. */
const KEPT_FIELDS = [
  'Comment',
  'InputPath',
  'OutputPath',
  'ResultPath',
  'ResultSelector',
  'Retry',
  'Catch',
  'Next',
  'End',
];

/** What the library sees in place of a Distributed Map (never called: the state is bound to its map runner). */
const MAP_RUN_RESOURCE = 'arn:aws:lambda:us-east-1:000000000000:function:homebound-local-map-run';

/**
 * Replaces every Distributed Map of a prepared definition by a Task, in place, and returns the runner of each by
 * state name. Inner Distributed Maps (inside a child's processor) are planned before the outer ones.
 * @throws InvalidDefinitionError when a processor is not valid ASL for the library.
 */
export function planDistributedMaps(prepared: JsonObject): Map<string, MapRunner> {
  const visits = [...walkStates(prepared)].filter((visit) => isDistributedMap(visit.state)).reverse();
  const runners = new Map<string, MapRunner>();
  for (const { name, state } of visits) {
    const config = parseDistributedMap(name, state);
    const runner = createMapRunner(config);
    const task: JsonObject = { Type: 'Task', Resource: MAP_RUN_RESOURCE, TimeoutSeconds: MAX_TIMER_SECONDS };
    for (const field of KEPT_FIELDS) {
      const value = state[field];
      if (value !== undefined) task[field] = value;
    }
    for (const field of Object.keys(state)) delete state[field];
    Object.assign(state, task);
    runners.set(name, runner);
  }
  return runners;
}

interface ChildOutcome {
  readonly record: ChildRecord;
  readonly itemCount: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type ChildRecord = Mutable<LocalChildExecution> & { history: LocalRunEvent[] };

function createMapRunner(config: DistributedMapConfig): MapRunner {
  const child = createLibraryMachine(config.processor, config.stateName);
  const itemsPath = config.itemsPath === undefined ? undefined : pathTemplate(config.itemsPath);
  const itemSelector = config.itemSelector === undefined ? undefined : new PayloadTemplate(config.itemSelector);
  const readerParameters =
    config.itemReader === undefined ? undefined : new PayloadTemplate(config.itemReader.parameters);
  const batchInput =
    config.itemBatcher?.batchInput === undefined ? undefined : new PayloadTemplate(config.itemBatcher.batchInput);
  const writerParameters = config.resultWriter === undefined ? undefined : new PayloadTemplate(config.resultWriter);
  const settingsReader = new MapRunSettingsReader(config);

  return async (scope, input) => {
    // StateEntered reaches listeners through the library's async generator; let it go first.
    await nextMacrotask();
    const context: JsonObject = {
      Execution: scope.execution,
      StateMachine: { ...scope.stateMachine },
      State: { Name: config.stateName, EnteredTime: new Date().toISOString() },
    };
    const settings = await settingsReader.read(input, context);
    const items = await readMapItems(settings.maxItems);
    const selected: JsonValue[] = [];
    for (const [index, item] of items.entries()) {
      selected.push(
        itemSelector === undefined
          ? item
          : await itemSelector.evaluate(input, { ...context, Map: { Item: { Index: index, Value: item } } }),
      );
    }
    const batcher =
      config.itemBatcher === undefined
        ? undefined
        : { batchInput: batchInput === undefined ? undefined : await batchInput.evaluate(input, context) };
    const work = batchItems(selected, batcher, settings, config.stateName);
    const mapRunId = randomUUID();
    const childMachineName = `${scope.stateMachine.Name}/${config.label}`;
    const mapRunArn = `arn:aws:states:local:000000000000:mapRun:${childMachineName}:${mapRunId}`;
    const base = { timestamp: Date.now(), executionName: scope.executionName, stateName: config.stateName, mapRunArn };
    scope.emit({ ...base, type: 'MapRunStarted', itemCount: items.length, childCount: work.length });
    try {
      const outcomes = await runChildren(scope, settings, work, items.length, mapRunArn, childMachineName);
      const output =
        writerParameters === undefined || scope.runtime.s3 === undefined
          ? checkedOutput(outcomes.map(({ record }) => record.output ?? failureOf(record)))
          : await writeResults(scope.runtime.s3, await writerParameters.evaluate(input, context), {
              mapRunArn,
              mapRunId,
              entries: outcomes.map(({ record }) => resultEntry(record, scope.stateMachine.Id, config.label)),
            });
      scope.emit({ ...base, timestamp: Date.now(), type: 'MapRunSucceeded' });
      return output;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      scope.emit({ ...base, timestamp: Date.now(), type: 'MapRunFailed', error: failure.name, cause: failure.message });
      throw error;
    }

    async function readMapItems(maxItems: number | undefined): Promise<JsonValue[]> {
      if (config.itemReader !== undefined && readerParameters !== undefined && scope.runtime.s3 !== undefined) {
        const parameters = await readerParameters.evaluate(input, context);
        return readItems(scope.runtime.s3, config.itemReader, parameters, maxItems);
      }
      const value = itemsPath === undefined ? input : pathValue(await itemsPath.evaluate(input, context));
      if (!Array.isArray(value)) {
        throw new StatesTaskError(
          'States.Runtime',
          `the items of Distributed Map "${config.stateName}" (${config.itemsPath ?? 'its input'}) are not an array`,
        );
      }
      return value;
    }
  };

  /**
   * Runs the children, at most MaxConcurrency (capped) at once, in item order. Resolves with every outcome in item
   * order; rejects with States.ExceedToleratedFailureThreshold once failures exceed the tolerance, after aborting the
   * children still running.
   */
  async function runChildren(
    scope: MapRunScope,
    settings: MapRunSettings,
    work: readonly ChildWork[],
    itemCount: number,
    mapRunArn: string,
    childMachineName: string,
  ): Promise<ChildOutcome[]> {
    const limit = Math.min(settings.maxConcurrency || DISTRIBUTED_MAP_CONCURRENCY_CAP, DISTRIBUTED_MAP_CONCURRENCY_CAP);
    const outcomes: ChildOutcome[] = new Array(work.length);
    const running = new Set<() => void>();
    let next = 0;
    let failedItems = 0;
    let exceeded: StatesTaskError | undefined;
    const stopAll = () => {
      for (const abort of running) abort();
    };
    scope.executionSignal.addEventListener('abort', stopAll, { once: true });

    const runOne = async (index: number, piece: ChildWork): Promise<void> => {
      const name = randomUUID();
      const record: ChildRecord = {
        executionName: name,
        executionArn: `arn:aws:states:local:000000000000:execution:${childMachineName}:${name}`,
        mapRunArn,
        stateName: config.stateName,
        input: piece.input,
        history: [],
        status: 'RUNNING',
        startDate: new Date(),
        stopDate: undefined,
        output: undefined,
        error: undefined,
        cause: undefined,
      };
      scope.log.children.push(record);
      const execution = startExecution({
        library: child,
        input: piece.input,
        executionName: name,
        executionArn: record.executionArn,
        stateMachine: { Id: `${scope.stateMachine.Id}/${config.label}`, Name: childMachineName },
        runtime: scope.runtime,
        log: scope.log,
        emit: (event) => {
          record.history.push(event);
          notify(scope, event);
        },
      });
      const abort = () => execution.abort();
      running.add(abort);
      try {
        record.output = await execution.result;
        record.status = 'SUCCEEDED';
      } catch (error) {
        settleFailure(record, error);
      } finally {
        running.delete(abort);
        record.stopDate = new Date();
      }
      outcomes[index] = { record, itemCount: piece.itemCount };
      if (record.status === 'SUCCEEDED' || exceeded !== undefined) return;
      failedItems += piece.itemCount;
      if (exceedsTolerance(settings, failedItems, itemCount)) {
        exceeded = new StatesTaskError(
          'States.ExceedToleratedFailureThreshold',
          `${failedItems} of ${itemCount} items failed in map run ${mapRunArn} (tolerated: ${toleranceText(settings)}); last: ${record.error ?? ''} ${record.cause ?? ''}`.trim(),
        );
        stopAll();
      }
    };

    const worker = async (): Promise<void> => {
      while (exceeded === undefined && !scope.executionSignal.aborted && next < work.length) {
        const index = next++;
        const piece = work[index];
        if (piece !== undefined) await runOne(index, piece);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(limit, work.length) }, worker));
    } finally {
      scope.executionSignal.removeEventListener('abort', stopAll);
    }
    if (exceeded !== undefined) throw exceeded;
    if (scope.executionSignal.aborted) throw new TerminalStatesError('States.Runtime', 'the execution has ended');
    return outcomes;
  }
}

function notify(scope: MapRunScope, event: LocalRunEvent): void {
  try {
    scope.log.onChildEvent?.(event);
  } catch (error) {
    process.emitWarning(
      `onChildEvent threw on ${event.type}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function settleFailure(record: ChildRecord, error: unknown): void {
  if (error instanceof ExecutionFailedError) {
    record.status = 'FAILED';
    record.error = error.error;
    record.cause = error.cause;
  } else if (error instanceof ExecutionTimedOutError) {
    record.status = 'TIMED_OUT';
    record.error = 'States.Timeout';
    record.cause = error.message;
  } else if (error instanceof ExecutionAbortedError) {
    record.status = 'ABORTED';
    record.error = 'States.Aborted';
    record.cause = error.message;
  } else {
    record.status = 'FAILED';
    record.error = error instanceof Error ? error.name : 'Error';
    record.cause = error instanceof Error ? error.message : String(error);
  }
}

/** A tolerated failed child's place in the map's output array. */
function failureOf(record: LocalChildExecution): JsonObject {
  return { Error: record.error ?? '', Cause: record.cause ?? '' };
}

function resultEntry(record: LocalChildExecution, stateMachineArn: string, label: string): ChildResultEntry {
  const status = record.status === 'RUNNING' ? 'ABORTED' : record.status;
  const outcome =
    status === 'SUCCEEDED'
      ? { Output: JSON.stringify(record.output ?? null), OutputDetails: { Included: true as const } }
      : { Error: record.error ?? '', Cause: record.cause ?? '' };
  return {
    ExecutionArn: record.executionArn,
    Name: record.executionName,
    StateMachineArn: `${stateMachineArn}/${label}`,
    Status: status,
    Input: JSON.stringify(record.input),
    InputDetails: { Included: true },
    ...outcome,
    StartDate: record.startDate.toISOString(),
    StopDate: (record.stopDate ?? new Date()).toISOString(),
    RedriveCount: 0,
    RedriveStatus: 'NOT_REDRIVABLE',
  };
}

function pathValue(evaluated: JsonValue): JsonValue {
  return isJsonObject(evaluated) ? (evaluated.value ?? null) : null;
}
