import { z } from 'zod';
import { type HostState, idempotencyToken } from '../../compute/port.js';
import { UnexpectedHostStateError } from '../errors.js';
import { type AwsHostSettings, type FailbackDeps, type FailbackState, RUN_TAG, TakeoverHost } from '../run-state.js';

/** Tag on a failback host naming the takeover host it replaces. */
export const REPLACES_TAG = 'homebound:replaces';

export const LaunchFailbackHostsInput = z.object({
  runId: z.string(),
  hosts: z.array(TakeoverHost).min(1),
  /** Launch only the hosts of this wave (the verification boot goes wave by wave). @default every host */
  wave: z.number().int().min(1).optional(),
});

/**
 * Launches one failback host per takeover host (no data volumes yet: they join at cutover), to prove before any
 * downtime that the target can run them, each with the settings ValidateRequest resolved for it (instance type,
 * subnet, security groups, private address, tags; core/failback/resolve-hosts.ts). Idempotent: a host this run
 * already launched is reused — so, called without a wave after every wave was launched, it launches nothing and
 * returns them all.
 */
export async function launchFailbackHosts(
  input: z.infer<typeof LaunchFailbackHostsInput>,
  deps: FailbackDeps,
): Promise<FailbackState> {
  const existing = await deps.compute.describeHosts({ tag: { key: RUN_TAG, value: input.runId } });
  const hosts = [];
  for (const takeover of hostsOfWave(input.hosts, input.wave)) {
    const launched = existing.find(
      (host) => host.role === 'failback' && host.tags[REPLACES_TAG] === takeover.hostId && host.state !== 'terminated',
    );
    const settings = takeover.failback?.platform === 'aws' ? takeover.failback : undefined;
    const failbackHostId =
      launched?.hostId ??
      (await deps.compute.runInstance({
        // The describe above may not see a launch a moment old (EC2 is eventually consistent); the token does.
        clientToken: idempotencyToken(input.runId, 'failback', takeover.hostId),
        role: 'failback',
        name: `${takeover.name}-failback`,
        // homebound's own tags last: the request cannot set those keys, and IAM requires them.
        tags: { ...settings?.tags, [RUN_TAG]: input.runId, [REPLACES_TAG]: takeover.hostId },
        ...(settings ? launchSettings(settings) : {}),
      }));
    hosts.push({ takeoverHostId: takeover.hostId, failbackHostId });
  }
  return { hosts, hostIds: hosts.map((host) => host.failbackHostId) };
}

/** The hosts of `wave`, or all of them when no wave is given. */
export function hostsOfWave(hosts: readonly TakeoverHost[], wave: number | undefined): TakeoverHost[] {
  return hosts.filter((host) => wave === undefined || (host.wave ?? 1) === wave);
}

/** The resolved settings as the compute port's launch request takes them. */
function launchSettings(settings: AwsHostSettings) {
  return {
    instanceType: settings.instanceType,
    ...(settings.subnetId === undefined ? {} : { subnetId: settings.subnetId }),
    ...(settings.securityGroupIds === undefined ? {} : { securityGroupIds: settings.securityGroupIds }),
    ...(settings.privateIp === undefined ? {} : { privateIp: settings.privateIp }),
  };
}

export const SetHostPowerInput = z.object({
  action: z.enum(['start', 'stop']),
  hostIds: z.array(z.string()).min(1),
});

/** Starts or stops hosts; returns at once (CheckHosts waits for the state). */
export async function setHostPower(
  input: z.infer<typeof SetHostPowerInput>,
  deps: FailbackDeps,
): Promise<{ action: string }> {
  if (input.action === 'start') await deps.compute.startInstances(input.hostIds);
  else await deps.compute.stopInstances(input.hostIds);
  return { action: input.action };
}

export const CheckHostsInput = z.object({
  hostIds: z.array(z.string()).min(1),
  state: z.enum(['running', 'stopped']),
});

/**
 * Whether every host has reached `state`; `at` is when this check first saw it (the downtime clock uses it).
 * @throws UnexpectedHostStateError when a host went somewhere it cannot come back from (e.g. terminated)
 */
export async function checkHosts(
  input: z.infer<typeof CheckHostsInput>,
  deps: FailbackDeps,
): Promise<{ reached: boolean; at: string; states: Record<string, HostState> }> {
  const hosts = await deps.compute.describeHosts({ hostIds: input.hostIds });
  const states: Record<string, HostState> = {};
  for (const host of hosts) {
    // Any other state can still lead where we wait (EC2 may report `stopped` for a moment after StartInstances).
    if (host.state === 'terminated') {
      throw new UnexpectedHostStateError(
        `host ${host.hostId} is ${host.state} while waiting for it to be ${input.state}`,
      );
    }
    states[host.hostId] = host.state;
  }
  return {
    reached: hosts.every((host) => host.state === input.state),
    at: deps.now().toISOString(),
    states,
  };
}
