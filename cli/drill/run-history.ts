import { z } from 'zod';
import { RunVolume, TargetState } from '../../core/failback/run-state.js';
import type { LocalRunEvent } from '../../core/orchestration/local-runner.js';

/**
 * What a drill reads from the state machine's history: which states failed for good, where the downtime began and
 * ended, how long each phase took, and which target volume each takeover volume went to. The history is the truth of
 * what the run did even when it never wrote its run report (a failure at Report, CleanUp or RetireTakeoverHosts).
 */

type History = readonly LocalRunEvent[];

/** A state that failed and was not retried: it was caught (the run took another path) or it ended the run. */
export interface RunFailure {
  readonly state: string;
  readonly error: string;
  readonly message: string;
}

/** Failures of top-level states that were not retried, in order; the Fail state that ends a run is not one. */
export function failuresOf(history: History): RunFailure[] {
  const failures: RunFailure[] = [];
  let pending: RunFailure | undefined;
  // The last state that failed inside a Map iteration: a Map that fails with its error is named by it (e.g. the
  // Cutover of a wave, not StartFailbackWaves).
  let inner: { state: string; error: string } | undefined;
  for (const event of history) {
    if (!('mapIndex' in event)) continue;
    if (event.mapIndex !== undefined) {
      if (event.type === 'StateFailed' && event.stateType !== 'Map')
        inner = { state: event.stateName, error: event.error };
      continue;
    }
    if (event.type === 'StateFailed' && event.stateType !== 'Fail') {
      if (pending) failures.push(pending);
      const state = event.stateType === 'Map' && inner?.error === event.error ? inner.state : event.stateName;
      pending = { state, error: event.error, message: causeMessage(event.cause) };
      inner = undefined;
    } else if (event.type === 'StateRetried' && pending?.state === event.stateName) {
      pending = undefined;
    }
  }
  if (pending) failures.push(pending);
  return failures;
}

/** Whether the run entered this top-level (or Map iteration) state at least once. */
export function enteredState(history: History, stateName: string): boolean {
  return history.some((event) => event.type === 'StateEntered' && event.stateName === stateName);
}

/** Lambda causes are JSON `{ errorType, errorMessage }`; other causes are plain text. */
function causeMessage(cause: string): string {
  try {
    const parsed = z.object({ errorMessage: z.string() }).safeParse(JSON.parse(cause));
    return parsed.success ? parsed.data.errorMessage : cause;
  } catch {
    return cause;
  }
}

function firstEvent(history: History, type: 'StateEntered' | 'StateExited', stateName: string) {
  return history.find((event) => event.type === type && event.stateName === stateName && event.mapIndex === undefined)
    ?.timestamp;
}

/** The downtime as measured once, for the summary line and the JSON alike. */
export interface Downtime {
  /** Takeover hosts stopped → end; null while it has not ended (a failed rollback leaves production down). */
  readonly seconds: number | null;
  /** What ended it: the failback hosts verified, or the takeover hosts serving again after a rollback. */
  readonly until: string;
}

/**
 * The business was down from the moment the takeover hosts began to stop (StopTakeoverHosts entered: its first wave
 * stops at once) until the failback hosts were verified (VerifyFailback done) or, after a rollback, the takeover hosts
 * ran again (RestartTakeoverHosts done: every wave running). Undefined when the takeover hosts never stopped.
 */
export function measureDowntime(history: History): Downtime | undefined {
  const stopped = firstEvent(history, 'StateEntered', 'StopTakeoverHosts');
  if (stopped === undefined) return undefined;
  const rollbackEntered = firstEvent(history, 'StateEntered', 'Rollback');
  const verified = firstEvent(history, 'StateExited', 'VerifyFailback');
  if (verified !== undefined && (rollbackEntered === undefined || verified < rollbackEntered)) {
    return { seconds: (verified - stopped) / 1000, until: 'failback hosts verified' };
  }
  const rolledBack = firstEvent(history, 'StateExited', 'RestartTakeoverHosts');
  const rollbackFailed = failuresOf(history).some(
    (failure) => failure.state === 'Rollback' || failure.state === 'RestartTakeoverHosts',
  );
  if (rolledBack !== undefined && !rollbackFailed) {
    return { seconds: (rolledBack - stopped) / 1000, until: 'takeover hosts serving again after the rollback' };
  }
  return { seconds: null, until: 'not ended: the takeover hosts were stopped and the run did not start them again' };
}

/**
 * The phases of a run, each starting at the first time its event happened. The cutover phase has the downtime's
 * bounds (takeover stopped → failback verified), so after a cutover the two figures are one.
 */
const PHASES: readonly { name: string; type: 'StateEntered' | 'StateExited'; state: string }[] = [
  { name: 'validate and prepare the target', type: 'StateEntered', state: 'ValidateRequest' },
  { name: 'passes while the takeover hosts serve', type: 'StateEntered', state: 'SnapshotVolumes' },
  { name: 'failback hosts launched', type: 'StateEntered', state: 'LaunchFailbackHosts' },
  { name: 'waiting for approval', type: 'StateEntered', state: 'RequestApproval' },
  { name: 'catch-up pass, stopping the takeover hosts', type: 'StateEntered', state: 'CatchUpAfterApproval' },
  { name: 'cutover (takeover stopped → failback verified)', type: 'StateEntered', state: 'StopTakeoverHosts' },
  { name: 'retire takeover hosts, clean up, report', type: 'StateExited', state: 'VerifyFailback' },
  { name: 'rollback', type: 'StateEntered', state: 'Rollback' },
];

/** How long each phase the run went through lasted, from its history. */
export function phaseDurations(history: History): { name: string; seconds: number }[] {
  const starts: { name: string; at: number }[] = [];
  for (const phase of PHASES) {
    const at = firstEvent(history, phase.type, phase.state);
    if (at !== undefined) starts.push({ name: phase.name, at });
  }
  starts.sort((a, b) => a.at - b.at);
  const end = history.at(-1)?.timestamp ?? Date.now();
  return starts.map((phase, i) => ({
    name: phase.name,
    seconds: ((starts[i + 1]?.at ?? end) - phase.at) / 1000,
  }));
}

const TargetsOfRun = z.object({ volumes: z.array(RunVolume), target: TargetState });

/** Each takeover volume's target volume, from the state data once PrepareTarget made them; empty before that. */
export function targetVolumesOf(history: History): Map<string, string> {
  const targets = new Map<string, string>();
  for (const event of history) {
    if (event.type !== 'StateExited' || event.mapIndex !== undefined) continue;
    const data = TargetsOfRun.safeParse(event.output);
    if (!data.success) continue;
    for (const volume of data.data.volumes) {
      const target = data.data.target.volumes.find((candidate) => candidate.volumeKey === volume.volumeKey);
      if (target) targets.set(volume.volumeId, target.targetVolumeId);
    }
  }
  return targets;
}
