import { type FailedCheck, HealthCheckFailedError } from './errors.js';
import type { HostHealth } from './runner.js';

/**
 * One round of a wave's health checks, as the state machines loop it (CheckHostHealth for cloud hosts, the agent's
 * CheckWaveHealth on-prem): `pending` → Wait → another round, until `allHealthy`.
 */
export interface HealthRound {
  /** When this round ended (ISO). */
  readonly checkedAt: string;
  /** When the checks give up (ISO): past it, a wave still unhealthy fails the run. */
  readonly deadline: string;
  readonly allHealthy: boolean;
  /** Some host is unhealthy and the deadline has not passed: Wait and check again. */
  readonly pending: boolean;
  readonly hosts: readonly HostHealth[];
}

/**
 * The round's verdict on the hosts' results.
 * @param hopeless a host can never become healthy (e.g. terminated): fail now rather than at the deadline
 * @throws HealthCheckFailedError naming each unhealthy host and failing check, once the deadline has passed (or
 *   at once when `hopeless`) with a host unhealthy
 */
export function healthRound(
  hosts: readonly HostHealth[],
  deadline: string,
  checkedAt: Date,
  hopeless = false,
): HealthRound {
  const allHealthy = hosts.every((host) => host.healthy);
  if (!allHealthy && (hopeless || checkedAt.getTime() >= Date.parse(deadline))) {
    const failed: FailedCheck[] = hosts.flatMap((host) =>
      host.checks
        .filter((check) => !check.passed)
        .map((check) => ({ hostId: host.hostId, name: check.name, detail: check.detail })),
    );
    throw new HealthCheckFailedError(failed, deadline);
  }
  return { checkedAt: checkedAt.toISOString(), deadline, allHealthy, pending: !allHealthy, hosts };
}
