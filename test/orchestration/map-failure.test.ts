import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { isJsonObject, type JsonObject } from '../../core/orchestration/json.js';
import { LocalStateMachine } from '../../core/orchestration/local-runner.js';
import { placeholder } from './fixture.js';

/** A Map over waves whose Catch goes to RolledBack, a Task that takes a while (the execution goes on meanwhile). */
function wavesMachine(maxConcurrency: number): JsonObject {
  return {
    StartAt: 'StartWaves',
    States: {
      StartWaves: {
        Type: 'Map',
        ItemsPath: '$.waves',
        MaxConcurrency: maxConcurrency,
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: 'StartWave',
          States: {
            StartWave: {
              Type: 'Task',
              Resource: placeholder('StartWaveFunctionArn'),
              TimeoutSeconds: 10,
              Next: 'CheckWave',
            },
            CheckWave: { Type: 'Task', Resource: placeholder('CheckWaveFunctionArn'), TimeoutSeconds: 10, End: true },
          },
        },
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'RolledBack' }],
        Next: 'Done',
      },
      RolledBack: { Type: 'Task', Resource: placeholder('RollBackFunctionArn'), TimeoutSeconds: 10, End: true },
      Done: { Type: 'Pass', End: true },
    },
  };
}

const waveOf = (input: unknown) => (isJsonObject(input) && typeof input.wave === 'number' ? input.wave : -1);

describe('a failed inline Map iteration (as on AWS)', () => {
  it('starts no Task of a queued iteration once another failed the Map', async () => {
    const started: number[] = [];
    const checked: number[] = [];
    const machine = LocalStateMachine.load({
      definition: wavesMachine(1),
      handlers: {
        StartWaveFunctionArn: async (input) => {
          started.push(waveOf(input));
          return input;
        },
        CheckWaveFunctionArn: async (input) => {
          checked.push(waveOf(input));
          if (waveOf(input) === 2)
            throw Object.assign(new Error('wave 2 unhealthy'), { name: 'HealthCheckFailedError' });
          return input;
        },
        RollBackFunctionArn: async (input) => {
          await sleep(300);
          return input;
        },
      },
    });

    const output = await machine.run({ waves: [{ wave: 1 }, { wave: 2 }, { wave: 3 }] }).result;

    expect(output).toMatchObject({ failure: { Error: 'HealthCheckFailedError' } });
    // The library's queue would start wave 3 after wave 2 failed; nothing of it may run, now or later.
    await sleep(200);
    expect(started).toEqual([1, 2]);
    expect(checked).toEqual([1, 2]);
  });

  it('lets every iteration run when none fails', async () => {
    const started: number[] = [];
    const machine = LocalStateMachine.load({
      definition: wavesMachine(2),
      handlers: {
        StartWaveFunctionArn: async (input) => {
          started.push(waveOf(input));
          return input;
        },
        CheckWaveFunctionArn: async (input) => input,
        RollBackFunctionArn: async (input) => input,
      },
    });

    await expect(machine.run({ waves: [{ wave: 1 }, { wave: 2 }, { wave: 3 }] }).result).resolves.toEqual([
      { wave: 1 },
      { wave: 2 },
      { wave: 3 },
    ]);
    expect(started.sort()).toEqual([1, 2, 3]);
  });
});
