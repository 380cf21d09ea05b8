import { describe, expect, it } from 'vitest';
import { failuresOf, measureDowntime, phaseDurations } from '../../cli/drill/run-history.js';
import type { LocalRunEvent } from '../../core/orchestration/local-runner.js';

/** A history with each state entered and exited at the given seconds; `fail` fails it instead of exiting. */
function history(steps: readonly [string, number, number, 'fail'?][]): LocalRunEvent[] {
  const base = { executionName: 'drill', stateType: 'Task', mapIndex: undefined };
  return steps.flatMap(([stateName, entered, left, fail]): LocalRunEvent[] => [
    { ...base, type: 'StateEntered', stateName, input: null, timestamp: entered * 1000 },
    fail
      ? { ...base, type: 'StateFailed', stateName, error: 'DrillInjectedFailure', cause: 'x', timestamp: left * 1000 }
      : { ...base, type: 'StateExited', stateName, output: null, durationMs: 0, timestamp: left * 1000 },
  ]);
}

describe('the drill downtime (one figure: takeover stopped → failback verified, or → serving again)', () => {
  it('after a cutover equals the cutover phase, from the first wave stopping to the failback hosts verified', () => {
    const events = history([
      ['CatchUpAfterApproval', 10, 11],
      ['StopTakeoverHosts', 11, 11.2],
      ['Cutover', 11.5, 12],
      ['VerifyFailback', 12, 12.5],
      ['RetireTakeoverHosts', 12.5, 12.6],
    ]);

    expect(measureDowntime(events)).toEqual({ seconds: 1.5, until: 'failback hosts verified' });
    const cutover = phaseDurations(events).find((phase) => phase.name.startsWith('cutover'));
    expect(cutover?.seconds).toBe(1.5);
  });

  it('after a failed cutover runs to the end of the rollback, when every takeover host serves again', () => {
    const events = history([
      ['StopTakeoverHosts', 11, 11.2],
      ['Cutover', 11.5, 12, 'fail'],
      ['Rollback', 12.1, 12.7],
      ['RestartTakeoverHosts', 12.7, 13.5],
    ]);

    expect(measureDowntime(events)).toEqual({
      seconds: 2.5,
      until: 'takeover hosts serving again after the rollback',
    });
  });

  it('has not ended when the rollback failed, and is none when the takeover hosts never stopped', () => {
    const events = history([
      ['StopTakeoverHosts', 11, 11.2],
      ['Cutover', 11.5, 12, 'fail'],
      ['Rollback', 12.1, 12.7, 'fail'],
    ]);
    expect(measureDowntime(events)?.seconds).toBeNull();
    expect(failuresOf(events).map((failure) => failure.state)).toEqual(['Cutover', 'Rollback']);

    expect(measureDowntime(history([['CatchUpAfterApproval', 10, 11]]))).toBeUndefined();
  });

  it('names a failed wave by the state that failed inside its Map iteration, not by the Map', () => {
    const base = { executionName: 'drill', input: null };
    const events: LocalRunEvent[] = [
      {
        ...base,
        type: 'StateEntered',
        stateName: 'StartFailbackWaves',
        stateType: 'Map',
        mapIndex: undefined,
        timestamp: 1,
      },
      { ...base, type: 'StateEntered', stateName: 'CheckWaveHealth', stateType: 'Task', mapIndex: 1, timestamp: 2 },
      {
        executionName: 'drill',
        type: 'StateFailed',
        stateName: 'CheckWaveHealth',
        stateType: 'Task',
        mapIndex: 1,
        error: 'HealthCheckFailedError',
        cause: 'i-1 unhealthy',
        timestamp: 3,
      },
      {
        executionName: 'drill',
        type: 'StateFailed',
        stateName: 'StartFailbackWaves',
        stateType: 'Map',
        mapIndex: undefined,
        error: 'HealthCheckFailedError',
        cause: 'i-1 unhealthy',
        timestamp: 4,
      },
    ];
    expect(failuresOf(events)).toEqual([
      { state: 'CheckWaveHealth', error: 'HealthCheckFailedError', message: 'i-1 unhealthy' },
    ]);
  });
});
