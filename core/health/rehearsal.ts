import { InvalidInputError } from '../errors.js';
import type { HealthCheckContext, HealthCheckTarget, HostHealth, HostHealthChecker } from './runner.js';

/**
 * A health check failure rehearsed on purpose (`homebound drill --fail-health-check HOST|wave:K`): the named host
 * (its failback or takeover host id), or the first host of wave K in the order the step lists them.
 */
export type HealthCheckFault = { readonly host: string } | { readonly wave: number };

/**
 * Reads `HOST` or `wave:K` (K ≥ 1).
 * @throws InvalidInputError naming the option when it is neither
 */
export function parseHealthCheckFault(text: string, option = '--fail-health-check'): HealthCheckFault {
  const wave = /^wave:(.*)$/.exec(text);
  if (!wave) {
    if (text.trim() === '') throw new InvalidInputError(`${option}: give a host id or wave:K`);
    return { host: text };
  }
  const number = Number(wave[1]);
  if (!(Number.isInteger(number) && number >= 1)) {
    throw new InvalidInputError(`${option}: "${text}" is no wave; write wave:K with K a wave number (1, 2, …)`);
  }
  return { wave: number };
}

/**
 * Wraps a checker so the hosts the faults select fail a check: their last check's result (the state check when
 * they have no other) is replaced by a failure saying it was rehearsed. Everything else is checked for real. The
 * local wiring installs it; nothing on AWS does.
 */
export class RehearsedHealthFailures implements HostHealthChecker {
  constructor(
    private readonly inner: HostHealthChecker,
    private readonly faults: readonly HealthCheckFault[],
  ) {}

  async checkHosts(hosts: readonly HealthCheckTarget[], context: HealthCheckContext): Promise<HostHealth[]> {
    const results = await this.inner.checkHosts(hosts, context);
    const failing = new Map<string, HealthCheckFault>();
    for (const fault of this.faults) {
      const host =
        'host' in fault
          ? hosts.find((target) => target.hostId === fault.host || target.takeoverHostId === fault.host)
          : hosts.find((target) => target.wave === fault.wave);
      if (host) failing.set(host.hostId, fault);
    }
    return results.map((health) => {
      const fault = failing.get(health.hostId);
      const last = health.checks.at(-1);
      if (!fault || !last) return health;
      const reason = 'host' in fault ? fault.host : `wave:${fault.wave}`;
      const rehearsed = {
        ...last,
        passed: false,
        detail: `drill: failed on purpose (--fail-health-check ${reason}); the check itself said: ${last.detail}`,
      };
      return { ...health, healthy: false, checks: [...health.checks.slice(0, -1), rehearsed] };
    });
  }
}
