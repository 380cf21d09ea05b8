import { setTimeout as sleep } from 'node:timers/promises';
import { HomeboundError } from '../errors.js';
import type { SsmCheck } from './checks.js';
import { type ProbeLimits, type ProbeOutcome, seconds } from './probe.js';
import { type CommandInvocation, type RunCommandPort, TERMINAL_COMMAND_STATUSES } from './run-command.js';

/** How long to wait between two GetCommandInvocation calls. @default 2 s */
export interface SsmProbeOptions {
  readonly pollMs?: number;
  /** Shown in the SSM console next to the command. */
  readonly comment?: string;
}

/**
 * Runs the check's document on the instance through the run-command port and waits for a terminal status: passed
 * when it ends in `Success`. Throttling and service-side errors while polling are waited out within the limit; a
 * command still running at the limit is cancelled (best effort) and the check fails.
 */
export async function probeSsm(
  runCommand: RunCommandPort,
  instanceId: string,
  check: SsmCheck,
  limits: ProbeLimits,
  options: SsmProbeOptions = {},
): Promise<ProbeOutcome> {
  const what = `ssm ${check.document} on ${instanceId}`;
  const started = Date.now();
  const left = () => limits.timeoutMs - (Date.now() - started);
  let commandId: string;
  try {
    commandId = await runCommand.sendCommand({
      instanceId,
      document: check.document,
      parameters: check.parameters,
      // SSM's delivery timeout is at least 30 s; the probe's own limit is what counts here.
      timeoutSeconds: Math.max(30, check.timeoutSeconds),
      ...(options.comment ? { comment: options.comment } : {}),
    });
  } catch (error) {
    return { passed: false, detail: `${what}: not sent: ${describe(error)}` };
  }
  let last: CommandInvocation | undefined;
  let lastError: unknown;
  while (left() > 0 && !limits.signal?.aborted) {
    await sleep(Math.min(options.pollMs ?? 2000, Math.max(0, left())), undefined, { signal: limits.signal }).catch(
      () => {},
    );
    if (limits.signal?.aborted) break;
    try {
      last = (await runCommand.getInvocation(commandId, instanceId)) ?? last;
      lastError = undefined;
    } catch (error) {
      // Throttled or a service-side error: poll again within the limit. Anything else will not get better.
      if (!(error instanceof HomeboundError && error.retryable)) {
        return { passed: false, detail: `${what} (command ${commandId}): ${describe(error)}` };
      }
      lastError = error;
      continue;
    }
    if (last && TERMINAL_COMMAND_STATUSES.has(last.status)) {
      return {
        passed: last.status === 'Success',
        detail: `${what} (command ${commandId}): ${describeInvocation(last)}`,
      };
    }
  }
  await runCommand.cancelCommand(commandId, instanceId).catch(() => {});
  const state = last ? describeInvocation(last) : lastError ? describe(lastError) : 'no invocation seen';
  const why = limits.signal?.aborted ? 'cancelled' : `no result within ${seconds(limits.timeoutMs)}`;
  return { passed: false, detail: `${what} (command ${commandId}): ${why} (last: ${state}); cancelled the command` };
}

function describeInvocation(invocation: CommandInvocation): string {
  const parts = [invocation.status];
  if (invocation.statusDetails && invocation.statusDetails !== invocation.status) parts.push(invocation.statusDetails);
  if (invocation.responseCode !== undefined && invocation.responseCode >= 0) {
    parts.push(`exit ${invocation.responseCode}`);
  }
  const output = invocation.output?.trim();
  if (output) parts.push(`output: ${output.length > 200 ? `${output.slice(0, 200)}…` : output}`);
  return parts.join(', ');
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
