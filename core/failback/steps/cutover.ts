import { z } from 'zod';
import { VolumeInUseError, VolumeNotAttachedError } from '../../compute/errors.js';
import { LIVE_STATE, STATE_TAG } from '../../compute/port.js';
import { ACK_KEY, passPrefix } from '../../engine/layout.js';
import { PassAck, parseStagedJson } from '../../engine/manifest.js';
import { GATEWAY_VOLUMES_DIR } from '../../gateway/scope.js';
import { FailbackVerificationError } from '../errors.js';
import { gatewayOfVolume } from '../gateway-plan.js';
import {
  type FailbackDeps,
  type FailbackHost,
  FailbackState,
  PassState,
  RUN_TAG,
  RunVolume,
  TakeoverHost,
  TargetState,
} from '../run-state.js';
import { gatewayScope } from './check-applied.js';
import type { HostHealthInput } from './check-host-health.js';
import { hostsOfWave } from './hosts.js';

export const CutoverInput = z.object({
  runId: z.string(),
  volumes: z.array(RunVolume).min(1),
  target: TargetState,
  failback: FailbackState,
});
export type CutoverInput = z.infer<typeof CutoverInput>;

export const CutoverWaveInput = CutoverInput.extend({
  /** The run's takeover hosts: their waves and the health checks their failback hosts get. */
  hosts: z.array(TakeoverHost).min(1).optional(),
  /** Cut over only this wave's hosts (the state machine goes wave by wave). @default every host */
  wave: z.number().int().min(1).optional(),
});
export type CutoverWaveInput = z.infer<typeof CutoverWaveInput>;

export interface CutoverResult {
  /** The failback hosts started. */
  readonly started: string[];
  /** When they were started (ISO): the wave's `failbackStartedAt`. */
  readonly at: string;
  /** CheckHostHealth's `hosts` for them: each host's address and the checks its takeover host's entry asked for. */
  readonly health: HostHealthInput[];
}

/** Where each target volume goes: the failback host of its takeover host, at the takeover volume's device. */
function placements(input: CutoverInput) {
  return input.volumes.map((volume) => {
    const target = input.target.volumes.find((candidate) => candidate.volumeKey === volume.volumeKey);
    const host = input.failback.hosts.find((candidate) => candidate.takeoverHostId === volume.hostId);
    if (!target || !host)
      throw new FailbackVerificationError(`no target volume or failback host for ${volume.volumeKey}`);
    return {
      volumeKey: volume.volumeKey,
      targetVolumeId: target.targetVolumeId,
      hostId: host.failbackHostId,
      takeoverHostId: volume.hostId,
      device: volume.device,
    };
  });
}

/**
 * Moves the synced target volumes from the (stopped) sync gateways to the failback hosts, at the devices the takeover
 * volumes had, and starts the failback hosts — of one wave when `wave` is given. Safe to retry: a volume already
 * where it belongs is left there.
 */
export async function cutover(input: CutoverWaveInput, deps: FailbackDeps): Promise<CutoverResult> {
  const inWave = new Set(
    input.wave === undefined
      ? input.failback.hosts.map((host) => host.takeoverHostId)
      : hostsOfWave(input.hosts ?? [], input.wave).map((host) => host.hostId),
  );
  const failback = input.failback.hosts.filter((host) => inWave.has(host.takeoverHostId));
  if (failback.length === 0) throw new FailbackVerificationError(`wave ${input.wave} has no failback host`);
  for (const placement of placements(input).filter((candidate) => inWave.has(candidate.takeoverHostId))) {
    await deps.compute.detachVolume(placement.targetVolumeId).catch((error: unknown) => {
      if (!(error instanceof VolumeNotAttachedError)) throw error;
    });
    await deps.compute
      .attachVolume(placement.targetVolumeId, placement.hostId, placement.device)
      .catch((error: unknown) => {
        if (!(error instanceof VolumeInUseError && error.hostId === placement.hostId)) throw error;
      });
  }
  const started = failback.map((host) => host.failbackHostId);
  await deps.compute.startInstances(started);
  const at = deps.now().toISOString();
  return { started, at, health: await healthTargets(failback, input.hosts ?? [], deps) };
}

/** What CheckHostHealth checks on the started failback hosts: each one's address and its takeover host's checks. */
async function healthTargets(
  failback: readonly FailbackHost[],
  hosts: readonly TakeoverHost[],
  deps: FailbackDeps,
): Promise<HostHealthInput[]> {
  const described = await deps.compute.describeHosts({ hostIds: failback.map((host) => host.failbackHostId) });
  return failback.map((host) => {
    const takeover = hosts.find((candidate) => candidate.hostId === host.takeoverHostId);
    const address = described.find((candidate) => candidate.hostId === host.failbackHostId)?.privateIp;
    return {
      hostId: host.failbackHostId,
      takeoverHostId: host.takeoverHostId,
      wave: takeover?.wave ?? 1,
      ...(address === undefined ? {} : { address }),
      checks: takeover?.healthChecks ?? [],
    };
  });
}

export const VerifyFailbackInput = CutoverInput.extend({ pass: PassState });

/**
 * Checks the failback side before the takeover hosts are retired: every failback host runs with its target volumes
 * at the right devices, and its gateway acknowledged the final pass of every volume (the target holds exactly the
 * final snapshot, verified block by block when applied).
 * @throws FailbackVerificationError naming the first thing that does not check out
 */
export async function verifyFailback(
  input: z.infer<typeof VerifyFailbackInput>,
  deps: FailbackDeps,
): Promise<{ verified: true; checks: number; at: string }> {
  const hosts = await deps.compute.describeHosts({ hostIds: input.failback.hostIds });
  let checks = 0;
  for (const host of hosts) {
    if (host.state !== 'running') throw new FailbackVerificationError(`failback host ${host.hostId} is ${host.state}`);
    checks++;
  }
  for (const placement of placements(input)) {
    const host = hosts.find((candidate) => candidate.hostId === placement.hostId);
    const attached = host?.volumes.find((volume) => volume.volumeId === placement.targetVolumeId);
    if (attached?.device !== placement.device) {
      throw new FailbackVerificationError(
        `volume ${placement.targetVolumeId} is not attached to ${placement.hostId} at ${placement.device}`,
      );
    }
    const snapshot = input.pass.snapshots.find((candidate) => candidate.volumeKey === placement.volumeKey);
    // The ack as the run's own gateway holding the volume wrote it, below its instance ARN (core/gateway/scope.ts).
    const gatewayHostId = gatewayOfVolume(input.target, placement.volumeKey);
    const staging = deps.staging(gatewayScope({ runId: input.runId, gatewayHostId }, deps) + GATEWAY_VOLUMES_DIR);
    const ackKey = passPrefix(placement.volumeKey, input.pass.number) + ACK_KEY;
    const ack = parseStagedJson(PassAck, await staging.get(ackKey), ackKey);
    if (!snapshot || ack.snapshotId !== snapshot.snapshotId) {
      throw new FailbackVerificationError(
        `the final pass of ${placement.volumeKey} was not acknowledged by its gateway ${gatewayHostId}`,
      );
    }
    checks += 2;
  }
  return { verified: true, checks, at: deps.now().toISOString() };
}

export const RetireTakeoverHostsInput = z
  .object({
    runId: z.string(),
    /** Failback hosts of the compute port (cloud): marked live, and named on the takeover hosts they replace. */
    failback: FailbackState.optional(),
    /**
     * Failback hosts outside the compute port (an on-prem agent's PrepareTarget `hosts`: the takeover host's id and
     * the VM's name): only named on the takeover hosts; homebound's IAM cannot touch them anyway.
     */
    replacements: z
      .array(z.object({ hostId: z.string(), name: z.string() }))
      .min(1)
      .optional(),
  })
  .refine((input) => input.failback !== undefined || input.replacements !== undefined, {
    message: 'needs failback or replacements',
  });

/**
 * Hands production over for good. First marks the failback hosts and every volume they run on
 * `homebound:state=live`, so IAM denies homebound any further change to them (a retried or compromised function cannot
 * stop or detach production; re-marking is allowed, so a retry is harmless). Then makes sure the takeover hosts are
 * stopped and tags each with the failback host that replaced it, so nobody starts it by mistake. They are not
 * terminated — their volumes stay as a last copy until an operator deletes them.
 */
export async function retireTakeoverHosts(
  input: z.infer<typeof RetireTakeoverHostsInput>,
  deps: FailbackDeps,
): Promise<{ retired: string[]; live: string[] }> {
  const managed = input.failback?.hostIds ?? [];
  const failbackHosts = managed.length > 0 ? await deps.compute.describeHosts({ hostIds: managed }) : [];
  const live = [...managed, ...failbackHosts.flatMap((host) => host.volumes.map((v) => v.volumeId))];
  if (live.length > 0) await deps.compute.createTags(live, { [STATE_TAG]: LIVE_STATE });
  const replaced =
    input.failback?.hosts ??
    (input.replacements ?? []).map((host) => ({ takeoverHostId: host.hostId, failbackHostId: host.name }));
  const takeoverHostIds = replaced.map((host) => host.takeoverHostId);
  await deps.compute.stopInstances(takeoverHostIds);
  for (const host of replaced) {
    await deps.compute.createTags([host.takeoverHostId], {
      [RUN_TAG]: input.runId,
      'homebound:failed-back-to': host.failbackHostId,
    });
  }
  return { retired: takeoverHostIds, live };
}
