import { z } from 'zod';
import { HealthChecks } from '../../health/checks.js';
import { type HealthRound, healthRound } from '../../health/round.js';
import { NoRunCommand } from '../../health/run-command.js';
import { HealthCheckRunner, type HostHealthChecker } from '../../health/runner.js';
import type { FailbackDeps } from '../run-state.js';

/** One failback host and its checks (the state check is implied). */
export const HostHealthInput = z
  .object({
    /** The failback host's instance (or VM) id. */
    hostId: z.string().min(1),
    /** Its private IP, where `tcp` and `http` checks connect; needed only by them. */
    address: z.union([z.ipv4(), z.ipv6()]).optional(),
    /** The takeover host it replaces and its wave, for the report and the drill's rehearsed failures. */
    takeoverHostId: z.string().min(1).optional(),
    wave: z.number().int().min(1).optional(),
    checks: HealthChecks.default([]),
  })
  .superRefine((host, context) => {
    const probe = host.checks.findIndex((check) => check.type === 'tcp' || check.type === 'http');
    if (probe >= 0 && !host.address) {
      context.addIssue({
        code: 'custom',
        message: `check ${probe} (${host.checks[probe]?.type}) connects to the host, so the host needs an address`,
        path: ['address'],
      });
    }
  });
export type HostHealthInput = z.input<typeof HostHealthInput>;

/**
 * The hosts of one wave (or any set) and when their checks give up: `deadline`, or `timeoutSeconds` after `since`
 * (a JSONPath state machine cannot add seconds to a time, so it passes e.g. CheckHosts' `at` and the wave's timeout).
 */
export const CheckHostHealthInput = z
  .object({
    runId: z.string().min(1),
    hosts: z.array(HostHealthInput).min(1),
    /** When the checks give up (ISO time): past it, a host still unhealthy fails the run. */
    deadline: z.iso.datetime().optional(),
    /** When the wait for health began (ISO time), with `timeoutSeconds`: the deadline when none is given. */
    since: z.iso.datetime().optional(),
    timeoutSeconds: z.number().int().min(1).max(86_400).optional(),
  })
  .superRefine((input, context) => {
    if (input.deadline !== undefined) return;
    for (const field of ['since', 'timeoutSeconds'] as const) {
      if (input[field] === undefined) {
        context.addIssue({
          code: 'custom',
          message: `give "deadline", or "since" and "timeoutSeconds"`,
          path: [field],
        });
      }
    }
  });
export type CheckHostHealthInput = z.infer<typeof CheckHostHealthInput>;

/** One round of the checks (core/health/round.ts). */
export type CheckHostHealthOutput = HealthRound;

/** Used when the wiring gives none: TCP and HTTP probes from where the step runs; no SSM client, so no `ssm` checks. */
const unwiredChecker = new HealthCheckRunner({
  runCommand: new NoRunCommand('here: no SSM client is wired into this deployment (core/wiring/aws.ts)'),
});

/**
 * Runs every host's health checks once (docs/health-checks.md) and says whether all are healthy. Looped by the
 * state machine as CheckHosts is: `pending` true → Wait → again, until `allHealthy` (each round checks every host
 * again, so a host that went down in between is seen).
 * @param invocationDeadline epoch ms by which the invocation must return: each check's timeout is cut to it
 * @throws HealthCheckFailedError naming each unhealthy host and failing check, once the deadline has passed, or at
 *   once when a host is terminated (it cannot come back)
 */
export async function checkHostHealth(
  input: CheckHostHealthInput,
  deps: Pick<FailbackDeps, 'compute' | 'now' | 'health'>,
  invocationDeadline: number = Date.now() + 60_000,
  signal?: AbortSignal,
): Promise<CheckHostHealthOutput> {
  const checker: HostHealthChecker = deps.health ?? unwiredChecker;
  const hosts = await checker.checkHosts(input.hosts, {
    hostStates: async (hostIds) => {
      const described = await deps.compute.describeHosts({ hostIds });
      return Object.fromEntries(described.map((host) => [host.hostId, host.state]));
    },
    deadline: invocationDeadline,
    signal,
    comment: `homebound health check, run ${input.runId}`,
  });
  const terminated = hosts.some((host) => host.state === 'terminated');
  return healthRound(hosts, healthDeadline(input), deps.now(), terminated);
}

/** The input's deadline, or `timeoutSeconds` after `since` (the schema holds that one of them is there). */
function healthDeadline(input: CheckHostHealthInput): string {
  if (input.deadline !== undefined) return new Date(input.deadline).toISOString();
  return new Date(Date.parse(input.since ?? '') + (input.timeoutSeconds ?? 0) * 1000).toISOString();
}
