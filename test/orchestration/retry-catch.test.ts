import { describe, expect, it } from 'vitest';
import {
  ExecutionFailedError,
  type JsonValue,
  LocalStateMachine,
  TaskFailedError,
  type TaskHandler,
} from '../../core/orchestration/local-runner.js';
import { fixture, placeholder } from './fixture.js';

class TransientStorageError extends Error {
  override name = 'TransientStorageError';
}
class VolumeTooSmallError extends Error {
  override name = 'VolumeTooSmallError';
}

function load(copy: TaskHandler, rollBack: TaskHandler = async () => ({ rolledBack: true })) {
  return LocalStateMachine.load({
    definition: fixture('retry-catch.asl.json'),
    handlers: { CopyVolumeFunctionArn: copy, RollBackFunctionArn: rollBack },
    retryIntervalOverrides: { CopyVolume: 5 },
  });
}

/** A handler that throws `failures` in turn, then returns `{ copied: true }`; counts its calls. */
function failingThenSucceeding(failures: Error[]) {
  const calls = { count: 0 };
  const handler: TaskHandler = async () => {
    const failure = failures[calls.count++];
    if (failure) throw failure;
    return { copied: true };
  };
  return { calls, handler };
}

describe('retry and catch with handler errors', () => {
  it('retries a named transient error, then succeeds', async () => {
    const { calls, handler } = failingThenSucceeding([
      new TransientStorageError('503'),
      new TransientStorageError('503'),
    ]);
    const execution = load(handler).run({ volumeId: 'vol-a' });

    expect(await execution.result).toEqual({ copied: true });
    expect(calls.count).toBe(3);
    const retries = execution.history.filter((e) => e.type === 'StateRetried');
    expect(retries.map((e) => (e.type === 'StateRetried' ? e.attempt : 0))).toEqual([1, 2]);
  });

  it('stops after MaxAttempts and hands the last error to Catch', async () => {
    const { calls, handler } = failingThenSucceeding(Array.from({ length: 5 }, () => new TransientStorageError('503')));
    const output = await load(handler).run({ volumeId: 'vol-a' }).result;

    expect(calls.count).toBe(4); // the first attempt and MaxAttempts 3 retries
    expect(output).toEqual({ rolledBackEverything: true, error: 'TransientStorageError' });
  });

  it('routes a named error to its rollback branch with the Lambda-style cause, without retrying it', async () => {
    const rollBackInputs: JsonValue[] = [];
    const { calls, handler } = failingThenSucceeding([new VolumeTooSmallError('target is 8 GiB, source 16 GiB')]);
    const output = await load(handler, async (input) => {
      rollBackInputs.push(input);
      return { rolledBack: true };
    }).run({ volumeId: 'vol-a' }).result;

    expect(output).toEqual({ rolledBack: true });
    expect(calls.count).toBe(1);
    expect(rollBackInputs).toEqual([
      {
        volumeId: 'vol-a',
        error: {
          Error: 'VolumeTooSmallError',
          Cause: JSON.stringify({ errorType: 'VolumeTooSmallError', errorMessage: 'target is 8 GiB, source 16 GiB' }),
        },
      },
    ]);
  });

  it('catches any other error with States.ALL', async () => {
    const { handler } = failingThenSucceeding([new RangeError('bad block index')]);
    expect(await load(handler).run({}).result).toEqual({ rolledBackEverything: true, error: 'RangeError' });
  });

  it('lets a handler choose the error name and cause verbatim with TaskFailedError', async () => {
    const rollBackInputs: JsonValue[] = [];
    const { handler } = failingThenSucceeding([new TaskFailedError('VolumeTooSmallError', 'too small')]);
    await load(handler, async (input) => {
      rollBackInputs.push(input);
      return null;
    }).run({}).result;
    expect(rollBackInputs).toEqual([{ error: { Error: 'VolumeTooSmallError', Cause: 'too small' } }]);
  });

  it('fails the execution with the error name when the rollback itself fails', async () => {
    const { handler } = failingThenSucceeding([new VolumeTooSmallError('small')]);
    const result = load(handler, async () => {
      throw new TransientStorageError('rollback failed too');
    }).run({}).result;

    await expect(result).rejects.toBeInstanceOf(ExecutionFailedError);
    await expect(result).rejects.toMatchObject({ error: 'TransientStorageError' });
  });

  it('fails with States.DataLimitExceeded, past any Catch, when a result exceeds 256 KiB', async () => {
    const definition = {
      StartAt: 'ListBlocks',
      States: {
        ListBlocks: {
          Type: 'Task',
          Resource: placeholder('ListBlocksFunctionArn'),
          TimeoutSeconds: 5,
          Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
          End: true,
        },
        Caught: { Type: 'Succeed' },
      },
    };
    const machine = LocalStateMachine.load({
      definition,
      handlers: { ListBlocksFunctionArn: async () => ({ blocks: 'x'.repeat(300 * 1024) }) },
    });

    const failure = await machine.run({}).result.catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ExecutionFailedError);
    expect(failure).toMatchObject({ error: 'States.DataLimitExceeded' });
  });
});
