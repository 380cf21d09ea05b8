import { z } from 'zod';
import type { HostRole } from '../../compute/port.js';
import {
  CaughtFailure,
  type FailbackDeps,
  FailbackState,
  RUN_TAG,
  TakeoverHost,
  type Wave,
  wavesOf,
} from '../run-state.js';

export const RollbackInput = z.object({
  runId: z.string(),
  takeoverHostIds: z.array(z.string()).min(1),
  failure: CaughtFailure,
  /** Set by the approval state's Catch: the failure came from the approval, not from the data path. */
  failureStage: z.object({ stage: z.string() }).optional(),
  failback: FailbackState.optional(),
  /** The run's takeover hosts and their waves. @default one wave of `takeoverHostIds` */
  hosts: z.array(TakeoverHost).min(1).optional(),
  request: z.object({ approval: z.object({ timeoutSeconds: z.number() }) }).optional(),
});
export type RollbackInput = z.infer<typeof RollbackInput>;

export interface RollbackResult {
  readonly reason: string;
  readonly error: string;
  /** The takeover hosts the run had stopped: the state machine restarts them wave by wave, lowest first. */
  readonly restartWaves: Wave[];
  readonly stoppedFailbackHostIds: string[];
}

/** The failure's own message: Lambda causes are JSON `{ errorType, errorMessage }`; other causes are plain text. */
function causeMessage(failure: CaughtFailure): string {
  if (!failure.Cause) return '';
  try {
    const parsed: unknown = JSON.parse(failure.Cause);
    const message = z.object({ errorMessage: z.string() }).safeParse(parsed);
    return message.success ? message.data.errorMessage : failure.Cause;
  } catch {
    return failure.Cause;
  }
}

/** One sentence for the operator: why the run is rolling back. */
export function rollbackReason(input: RollbackInput): string {
  const message = causeMessage(input.failure);
  if (input.failure.Error === 'CutoverRejectedError') return `cutover rejected${message ? `: ${message}` : ''}`;
  if (input.failureStage?.stage === 'approval' && input.failure.Error === 'States.Timeout') {
    return `no cutover decision within ${input.request?.approval.timeoutSeconds ?? '?'} s (approval timed out)`;
  }
  return `${input.failure.Error}${message ? `: ${message}` : ''}`;
}

/**
 * Starts putting production back where it was: stops the failback hosts and names the takeover hosts the run had
 * stopped, by wave, for the state machine to restart wave by wave (lowest first, each running before the next, as at
 * cutover). Nothing homebound does ever writes to a takeover volume, so restarting them loses nothing. Gateways,
 * snapshots and staging go in CleanUp; target volumes stay, each with the last snapshot it provably holds
 * (core/failback/keep-target.ts), so the next run starts from them with an incremental pass.
 */
export async function rollback(input: RollbackInput, deps: FailbackDeps): Promise<RollbackResult> {
  const stoppedFailbackHostIds = await hostsOfRun(deps, input.runId, 'failback', input.failback?.hostIds ?? []);
  if (stoppedFailbackHostIds.length > 0) await deps.compute.stopInstances(stoppedFailbackHostIds);
  const takeover = await deps.compute.describeHosts({ hostIds: input.takeoverHostIds });
  const stopped = new Set(
    takeover.filter((host) => host.state !== 'running' && host.state !== 'pending').map((host) => host.hostId),
  );
  const hosts = input.hosts ?? input.takeoverHostIds.map((hostId) => ({ hostId, name: hostId }));
  const restartWaves = wavesOf(hosts.filter((host) => stopped.has(host.hostId)));
  // Whatever failed, no cutover decision is awaited any more.
  deps.metrics.runEvent(input.runId, { ApprovalsPending: 0 });
  return {
    reason: rollbackReason(input),
    error: input.failure.Error,
    restartWaves,
    stoppedFailbackHostIds,
  };
}

/**
 * The run's hosts of a role that are not terminated: those the state knows plus those found by the run tag, so a
 * task that failed after launching a host but before reporting it leaves nothing behind.
 */
export async function hostsOfRun(
  deps: FailbackDeps,
  runId: string,
  role: HostRole,
  known: readonly string[],
): Promise<string[]> {
  const tagged = await deps.compute.describeHosts({ tag: { key: RUN_TAG, value: runId } });
  const found = tagged.filter((host) => host.role === role && host.state !== 'terminated').map((host) => host.hostId);
  return [...new Set([...known, ...found])];
}
