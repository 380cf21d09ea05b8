import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isJsonObject } from '../../core/orchestration/json.js';
import {
  type JsonValue,
  type LocalRunEvent,
  LocalStateMachine,
  NotJsonSerializableError,
  type TaskContext,
  type TaskHandler,
  UnresolvedSubstitutionError,
} from '../../core/orchestration/local-runner.js';
import { fixture } from './fixture.js';

const flowHandlers = (copied: JsonValue[]): Record<string, TaskHandler> => ({
  ValidateRequestFunctionArn: async (input) => ({
    volumeCount: isJsonObject(input) && Array.isArray(input.volumes) ? input.volumes.length : 0,
  }),
  CopyVolumeFunctionArn: async (input) => {
    copied.push(input);
    return { copied: input };
  },
  SummarizeFunctionArn: async (input) => ({ received: input }),
});

function loadFlow(copied: JsonValue[] = []) {
  return LocalStateMachine.load({
    definition: fixture('failback-flow.asl.json'),
    handlers: flowHandlers(copied),
    substitutions: { StagingBucketName: 'homebound-staging' },
    waitOverrides: { LetWritesSettle: 10 },
  });
}

/** Resolves after `ms` unless the signal aborts first. */
async function work(ms: number, signal: AbortSignal): Promise<string> {
  await sleep(ms, undefined, { signal });
  return 'done';
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('local state machine runner', () => {
  it('runs the file through Choice, Map and Wait with bound handlers and returns the output AWS would', async () => {
    const copied: JsonValue[] = [];
    const machine = loadFlow(copied);

    const started = performance.now();
    const execution = machine.run({ volumes: ['vol-a', 'vol-b'] }, { executionName: 'drill-1' });
    const output = await execution.result;

    // The Wait of 300 s was overridden to 10 ms.
    expect(performance.now() - started).toBeLessThan(2000);
    // ItemSelector got the item, its index, the execution name and the substituted bucket.
    const item = (volumeId: string, index: number) => ({
      volumeId,
      index,
      runId: 'drill-1',
      stagingBucket: 'homebound-staging',
    });
    expect(copied).toEqual(expect.arrayContaining([item('vol-a', 0), item('vol-b', 1)]));
    // lambda:invoke: the handler got Payload, and the state got { Payload, StatusCode } back.
    expect(output).toEqual({
      summary: {
        received: {
          copies: [{ copied: item('vol-a', 0) }, { copied: item('vol-b', 1) }],
          executionId: execution.executionArn,
        },
      },
      status: 200,
    });
  });

  it('takes the Choice default when there is nothing to copy', async () => {
    const copied: JsonValue[] = [];
    const output = await loadFlow(copied).run({}).result;
    expect(output).toEqual({ copied: [] });
    expect(copied).toEqual([]);
  });

  it('reports entered/exited events with durations, Map iterations and the final outcome, in order', async () => {
    const seen: LocalRunEvent[] = [];
    const execution = loadFlow().run({ volumes: ['vol-a', 'vol-b'] }, { onEvent: (e) => seen.push(e) });
    await execution.result;

    expect(seen).toEqual(execution.history);
    expect(seen[0]?.type).toBe('ExecutionStarted');
    expect(seen.at(-1)?.type).toBe('ExecutionSucceeded');
    const exits = seen.filter((e) => e.type === 'StateExited');
    expect(exits.map((e) => e.stateName)).toEqual(
      expect.arrayContaining(['ValidateRequest', 'AnyVolumes', 'CopyVolume', 'CopyVolumes', 'LetWritesSettle']),
    );
    const wait = exits.find((e) => e.stateName === 'LetWritesSettle');
    expect(wait?.durationMs).toBeGreaterThanOrEqual(9);
    const iterations = seen.flatMap((e) => (e.type === 'MapIterationSucceeded' ? [e.index] : []));
    expect(iterations.sort()).toEqual([0, 1]);
    const copyEntered = seen.filter((e) => e.type === 'StateEntered' && e.stateName === 'CopyVolume');
    expect(copyEntered.map((e) => (e.type === 'StateEntered' ? e.mapIndex : -1)).sort()).toEqual([0, 1]);
  });

  it('never opens a network connection when every Task is bound', async () => {
    const connect = vi.spyOn(net.Socket.prototype, 'connect');
    await loadFlow().run({ volumes: ['vol-a'] }).result;
    expect(connect).not.toHaveBeenCalled();
  });

  it('fails at load when a placeholder outside the Task bindings has no substitution', () => {
    expect(() =>
      LocalStateMachine.load({ definition: fixture('failback-flow.asl.json'), handlers: flowHandlers([]) }),
    ).toThrow(UnresolvedSubstitutionError);
  });

  it('refuses an input that is not JSON', () => {
    expect(() => loadFlow().run({ size: 10n })).toThrow(NotJsonSerializableError);
  });

  it('names the machine after its file and gives the execution AWS-shaped ARNs', async () => {
    const machine = loadFlow();
    const execution = machine.run({}, { executionName: 'run-7' });
    await execution.result;
    expect(machine.name).toBe('failback-flow');
    expect(execution.executionArn).toBe('arn:aws:states:local:000000000000:execution:failback-flow:run-7');
  });

  it('aborts a running request-response handler when the run is aborted', async () => {
    const contexts: TaskContext[] = [];
    const machine = LocalStateMachine.load({
      definition: fixture('timeouts.asl.json'),
      handlers: {
        SlowFunctionArn: async (_input, context) => {
          contexts.push(context);
          return work(10_000, context.signal);
        },
        HangingFunctionArn: async () => 'unused',
      },
    });
    const execution = machine.run({});
    await sleep(50);

    execution.abort();

    await expect(execution.result).rejects.toMatchObject({ name: 'ExecutionAbortedError' });
    expect(contexts[0]?.signal.aborted).toBe(true);
    expect(execution.history.at(-1)?.type).toBe('ExecutionAborted');
  });
});
