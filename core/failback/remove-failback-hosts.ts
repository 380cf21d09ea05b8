import { HostNotFoundError, VolumeNotAttachedError } from '../compute/errors.js';
import { type Host, LIVE_STATE, STATE_TAG } from '../compute/port.js';
import { type FailbackDeps, RUN_TAG } from './run-state.js';

const POLL_MS = 1_000;

export interface RemoveFailbackHostsInput {
  readonly runId: string;
  /** The failback hosts the run state knows (its LaunchFailbackHosts result); others are found by the run tag. */
  readonly knownHostIds: readonly string[];
  /** The run's target volumes: detached from a failback host before it goes, so they survive it. */
  readonly targetVolumeIds: ReadonlySet<string>;
  /** Until when (epoch ms) to wait for a failback host holding a target volume to be stopped. */
  readonly waitUntil: number;
}

export interface RemovedFailbackHosts {
  /** Failback hosts whose termination was asked. */
  readonly terminated: string[];
  /** Target volumes detached from a failback host first (a rollback after Cutover). */
  readonly detached: string[];
  /** Failback hosts left as they were, each with why (an operator terminates them). */
  readonly left: { readonly hostId: string; readonly reason: string }[];
}

/**
 * Terminates the failback hosts of a rolled-back run, so none of them keeps what the next run needs: above all its
 * private address (a stopped instance keeps it, and a retry asking the same address would be refused). A target
 * volume still attached to one (the run rolled back after Cutover) is detached first, once the host is `stopped`
 * (Rollback stopped it), so the volume survives the host whatever its DeleteOnTermination says; a host that does not
 * stop in time keeps its volume and is left, with the reason. Only hosts tagged with the run and role `failback` that
 * are not `homebound:state=live` are touched (IAM allows no other, lib/failback-permissions.ts). Idempotent.
 */
export async function removeFailbackHosts(
  input: RemoveFailbackHostsInput,
  deps: FailbackDeps,
): Promise<RemovedFailbackHosts> {
  const hosts = await failbackHostsOfRun(input, deps);
  const holding = (host: Host) => host.volumes.some((volume) => input.targetVolumeIds.has(volume.volumeId));
  const stopped = await untilStopped(hosts.filter(holding), input.waitUntil, deps);
  const detached: string[] = [];
  const left: RemovedFailbackHosts['left'] = [];
  const terminated: string[] = [];
  for (const host of hosts) {
    if (holding(host) && !stopped.has(host.hostId)) {
      left.push({
        hostId: host.hostId,
        reason: 'it holds a target volume and was not stopped in time to detach it',
      });
      continue;
    }
    for (const volume of host.volumes.filter((candidate) => input.targetVolumeIds.has(candidate.volumeId))) {
      await deps.compute.detachVolume(volume.volumeId).catch((error: unknown) => {
        if (!(error instanceof VolumeNotAttachedError)) throw error;
      });
      detached.push(volume.volumeId);
    }
    terminated.push(host.hostId);
  }
  if (terminated.length > 0) await deps.compute.terminateInstances(terminated);
  return { terminated, detached, left };
}

/** The run's failback hosts that are not terminated and not live: those found by the run tag and those it knows. */
async function failbackHostsOfRun(input: RemoveFailbackHostsInput, deps: FailbackDeps): Promise<Host[]> {
  const tagged = await deps.compute.describeHosts({ tag: { key: RUN_TAG, value: input.runId } });
  // EC2 is eventually consistent: a host launched a moment ago may not show in a tag filter yet.
  const unseen = input.knownHostIds.filter((hostId) => !tagged.some((host) => host.hostId === hostId));
  const known = await Promise.all(
    unseen.map((hostId) =>
      deps.compute.describeHosts({ hostIds: [hostId] }).catch((error: unknown) => {
        // Gone from EC2's listing: terminated long ago (a retried CleanUp).
        if (error instanceof HostNotFoundError) return [];
        throw error;
      }),
    ),
  );
  return [...tagged, ...known.flat()].filter(
    (host) =>
      host.role === 'failback' &&
      host.tags[RUN_TAG] === input.runId &&
      host.tags[STATE_TAG] !== LIVE_STATE &&
      host.state !== 'terminated',
  );
}

/** Waits (bounded) until the hosts are `stopped`; returns those that are. */
async function untilStopped(hosts: readonly Host[], until: number, deps: FailbackDeps): Promise<Set<string>> {
  if (hosts.length === 0) return new Set();
  const hostIds = hosts.map((host) => host.hostId);
  for (;;) {
    const now = await deps.compute.describeHosts({ hostIds });
    const stopped = new Set(now.filter((host) => host.state === 'stopped').map((host) => host.hostId));
    if (stopped.size === hostIds.length || Date.now() >= until) return stopped;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
