import { type FailedCheck, HealthCheckFailedError } from '../health/errors.js';
import { NoRunCommand } from '../health/run-command.js';
import { HealthCheckRunner, type HostHealth } from '../health/runner.js';
import type { PlatformRun, TargetPlatform } from '../onprem/platform.js';
import type { CheckWaveHealthInput } from './operations.js';

/** A probe's longest timeout (core/health/checks.ts MAX_PROBE_TIMEOUT_SECONDS): one round never waits longer. */
const ROUND_LIMIT_MS = 300_000;

/** `ssm` checks are refused for this method by ValidateRequest; the agent has no SSM client either way. */
const checker = new HealthCheckRunner({
  runCommand: new NoRunCommand('on-prem: the agent has no SSM client (ssm checks are for EC2 failback hosts)'),
});

/** One round of a wave's checks, as CheckHostHealth answers for the automated method. */
export interface WaveHealthAnswer {
  /** When this round ended (ISO). */
  readonly checkedAt: string;
  /** `timeoutSeconds` after `since` (ISO): past it an unhealthy wave fails. */
  readonly deadline: string;
  readonly allHealthy: boolean;
  /** Some host is unhealthy and the deadline has not passed: the state machine waits and asks again. */
  readonly pending: boolean;
  /** Per takeover host: its failback host's health and each check's result. */
  readonly hosts: readonly HostHealth[];
}

/**
 * Runs one round of the health checks of a wave's failback hosts from the agent (it reaches the on-prem network the
 * cloud cannot): the state check (the platform says the VM is powered on; `poweredOn` counts as `running`), then each
 * host's `tcp` and `http` checks against the guest IP the platform reports. A host without an IP fails those checks
 * with "has no address to connect to".
 * @param wave the run narrowed to the wave's hosts
 * @throws HealthCheckFailedError naming every failing check, once the deadline has passed with the wave unhealthy
 */
export async function checkWaveHealth(
  platform: TargetPlatform,
  wave: PlatformRun,
  input: CheckWaveHealthInput,
  signal: AbortSignal,
  now: () => Date,
): Promise<WaveHealthAnswer> {
  const statuses = await platform.inspect(wave, signal);
  const byHost = new Map(statuses.map((status) => [status.hostId, status]));
  const targets = wave.hosts.map((host) => ({
    hostId: host.hostId,
    address: byHost.get(host.hostId)?.address,
    checks: input.hosts.find((candidate) => candidate.hostId === host.hostId)?.healthChecks ?? [],
  }));
  const hosts = await checker.checkHosts(targets, {
    hostStates: async (hostIds) =>
      Object.fromEntries(
        hostIds.map((hostId) => {
          const powerState = byHost.get(hostId)?.powerState ?? 'unknown';
          return [hostId, powerState === 'poweredOn' ? 'running' : powerState];
        }),
      ),
    deadline: Date.now() + ROUND_LIMIT_MS,
    signal,
  });
  const deadline = new Date(Date.parse(input.since) + input.timeoutSeconds * 1000).toISOString();
  const checkedAt = now();
  const allHealthy = hosts.every((host) => host.healthy);
  if (!allHealthy && checkedAt.getTime() >= Date.parse(deadline)) {
    const failed: FailedCheck[] = hosts.flatMap((host) =>
      host.checks
        .filter((check) => !check.passed)
        .map((check) => ({ hostId: host.hostId, name: check.name, detail: check.detail })),
    );
    throw new HealthCheckFailedError(failed, deadline);
  }
  return { checkedAt: checkedAt.toISOString(), deadline, allHealthy, pending: !allHealthy, hosts };
}
