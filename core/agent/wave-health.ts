import { type HealthRound, healthRound } from '../health/round.js';
import { NoRunCommand } from '../health/run-command.js';
import { HealthCheckRunner } from '../health/runner.js';
import type { PlatformRun, TargetPlatform } from '../onprem/platform.js';
import type { CheckWaveHealthInput } from './operations.js';

/** A probe's longest timeout (core/health/checks.ts MAX_PROBE_TIMEOUT_SECONDS): one round never waits longer. */
const ROUND_LIMIT_MS = 300_000;

/** `ssm` checks are refused for this method by ValidateRequest; the agent has no SSM client either way. */
const checker = new HealthCheckRunner({
  runCommand: new NoRunCommand('on-prem: the agent has no SSM client (ssm checks are for EC2 failback hosts)'),
});

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
): Promise<HealthRound> {
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
  return healthRound(hosts, deadline, now());
}
