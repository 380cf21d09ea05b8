import { type HealthCheck, type HealthCheckType, healthCheckName } from './checks.js';
import { probeHttp } from './http.js';
import type { ProbeOutcome } from './probe.js';
import type { RunCommandPort } from './run-command.js';
import { probeSsm } from './ssm.js';
import { probeTcp } from './tcp.js';

/** One failback host to check. */
export interface HealthCheckTarget {
  /** The instance (or VM) id: what the state check and an `ssm` check address. */
  readonly hostId: string;
  /** Its private IP: where `tcp` and `http` checks connect. */
  readonly address?: string | undefined;
  /** Its checks besides the state check, which every host gets. */
  readonly checks: readonly HealthCheck[];
  /** The takeover host it replaces and its wave: only the drill's rehearsed failures look at them. */
  readonly takeoverHostId?: string | undefined;
  readonly wave?: number | undefined;
}

/** What one check of one host found. */
export interface HealthCheckResult {
  readonly name: string;
  readonly type: HealthCheckType;
  readonly passed: boolean;
  readonly detail: string;
  readonly durationMs: number;
}

/** A host is healthy when every one of its checks passed, its state check included. */
export interface HostHealth {
  readonly hostId: string;
  readonly healthy: boolean;
  /** The host's state as the state check saw it (`unknown` when the lookup did not list it). */
  readonly state: string;
  readonly checks: readonly HealthCheckResult[];
}

/** The state (`running` is up) of each host by id; a vSphere adapter reports a `poweredOn` VM as `running`. */
export type HostStates = (hostIds: readonly string[]) => Promise<Readonly<Record<string, string>>>;

export interface HealthCheckContext {
  readonly hostStates: HostStates;
  /** Epoch ms by which every probe must have ended (the invocation's deadline): a check's timeout is cut to it. */
  readonly deadline: number;
  readonly signal?: AbortSignal | undefined;
  /** Shown next to an `ssm` check's command in the SSM console. */
  readonly comment?: string | undefined;
}

/** Runs hosts' checks once. Implemented by HealthCheckRunner; the drill wraps it (RehearsedHealthFailures). */
export interface HostHealthChecker {
  checkHosts(hosts: readonly HealthCheckTarget[], context: HealthCheckContext): Promise<HostHealth[]>;
}

export interface HealthCheckRunnerOptions {
  /** Runs `ssm` checks' documents (NoRunCommand where there is no SSM). */
  readonly runCommand: RunCommandPort;
  /** Hosts checked at once. @default 16 */
  readonly concurrency?: number;
  /** Between two polls of an `ssm` check's invocation. @default 2000 */
  readonly ssmPollMs?: number;
}

/**
 * Runs each host's checks once, each with its own timeout (cut to the context's deadline): first the state check,
 * then, if the host is running, its other checks at once. A host that is not running fails its other checks
 * without probing them (nothing can answer). Probe failures are results, not errors; only the host-state lookup
 * throws (e.g. ThrottledError), so the caller's retry covers it.
 */
export class HealthCheckRunner implements HostHealthChecker {
  constructor(private readonly options: HealthCheckRunnerOptions) {}

  async checkHosts(hosts: readonly HealthCheckTarget[], context: HealthCheckContext): Promise<HostHealth[]> {
    const states = await context.hostStates(hosts.map((host) => host.hostId));
    return mapLimited(hosts, this.options.concurrency ?? 16, (host) =>
      this.checkHost(host, states[host.hostId], context),
    );
  }

  private async checkHost(
    host: HealthCheckTarget,
    state: string | undefined,
    context: HealthCheckContext,
  ): Promise<HostHealth> {
    const running = state === 'running';
    const stateCheck = host.checks.find((check) => check.type === 'state');
    const stateResult: HealthCheckResult = {
      name: stateCheck ? healthCheckName(stateCheck) : 'state',
      type: 'state',
      passed: running,
      detail: `${host.hostId} is ${state ?? 'unknown'}${running ? '' : ', not running'}`,
      durationMs: 0,
    };
    const others = host.checks.filter((check) => check.type !== 'state');
    const results = running
      ? await Promise.all(others.map((check) => this.runCheck(host, check, context)))
      : others.map((check) => notRun(check, `not run: ${host.hostId} is not running`));
    const checks = [stateResult, ...results];
    return { hostId: host.hostId, healthy: checks.every((check) => check.passed), state: state ?? 'unknown', checks };
  }

  private async runCheck(
    host: HealthCheckTarget,
    check: Exclude<HealthCheck, { type: 'state' }>,
    context: HealthCheckContext,
  ): Promise<HealthCheckResult> {
    const remainingMs = context.deadline - Date.now();
    if (remainingMs <= 0) return notRun(check, 'not run: no time left in this invocation');
    const timeoutMs = Math.min(check.timeoutSeconds * 1000, remainingMs);
    const limits = { timeoutMs, signal: context.signal };
    const started = performance.now();
    let outcome: ProbeOutcome;
    if (check.type === 'ssm') {
      outcome = await probeSsm(this.options.runCommand, host.hostId, check, limits, {
        ...(this.options.ssmPollMs === undefined ? {} : { pollMs: this.options.ssmPollMs }),
        ...(context.comment ? { comment: context.comment } : {}),
      });
    } else if (!host.address) {
      outcome = { passed: false, detail: `${host.hostId} has no address to connect to` };
    } else if (check.type === 'tcp') {
      outcome = await probeTcp(host.address, check.port, limits);
    } else {
      outcome = await probeHttp(host.address, check, limits);
    }
    return {
      name: healthCheckName(check),
      type: check.type,
      passed: outcome.passed,
      detail: boundedDetail(outcome.detail),
      durationMs: Math.round(performance.now() - started),
    };
  }
}

/**
 * A result's detail is cut to this many characters: a wave's results travel in the state's payload (256 KiB in Step
 * Functions), so 100 hosts with 5 checks each stay near 150 KiB at most.
 */
export const MAX_DETAIL_CHARS = 300;

function boundedDetail(detail: string): string {
  return detail.length > MAX_DETAIL_CHARS ? `${detail.slice(0, MAX_DETAIL_CHARS - 1)}…` : detail;
}

function notRun(check: HealthCheck, detail: string): HealthCheckResult {
  return { name: healthCheckName(check), type: check.type, passed: false, detail, durationMs: 0 };
}

/** `work` over `items` with at most `limit` at once; results in the items' order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}
