import { z } from 'zod';
import { idempotencyToken } from '../../compute/port.js';
import { GATEWAY_CONFIG_FORMAT, renderGatewayUserData } from '../../gateway/config.js';
import { adoptKeptTarget, SOURCE_VOLUME_TAG } from '../adopt-target.js';
import { GatewayAckSecretMissingError } from '../errors.js';
import type { FirstPass, TargetBase } from '../kept-target.js';
import { DEFAULT_GATEWAY_LIVENESS, GatewayLiveness } from '../request-fields.js';
import { type FailbackDeps, RUN_TAG, RunVolume, runLayout, type TargetState } from '../run-state.js';

/** Device names the gateway's target volumes take, in order (EC2's recommended range for EBS data volumes). */
export const GATEWAY_DEVICES: readonly string[] = Array.from('fghijklmnopqrstuvwxyz', (letter) => `/dev/sd${letter}`);

export { SOURCE_VOLUME_TAG } from '../adopt-target.js';

export const PrepareTargetInput = z.object({
  runId: z.string(),
  volumes: z.array(RunVolume).min(1),
  /** Absent in inputs of executions started before it existed: the defaults. */
  gateway: GatewayLiveness.optional(),
});
export type PrepareTargetInput = z.infer<typeof PrepareTargetInput>;

/**
 * Creates the target side: one encrypted target volume per takeover volume (same size) — or takes over the one a
 * rolled-back run kept for it, when that provably holds one of its snapshots (core/failback/adopt-target.ts; the
 * first pass is then incremental from it, and the gateway's applier is told so) — and a sync gateway whose
 * user data installs the gateway bundle (checked against its SHA-256) and starts the applier for this run's staging
 * prefix; then attaches the volumes to the gateway. The
 * gateway waits for its devices, so attaching after launch is safe. Everything is tagged with the run id.
 * Idempotent: volumes and gateway are created with ClientTokens derived from the run, and attaching what is already
 * attached is a no-op, so a retry after a timeout finds what the first attempt made instead of making it twice.
 * @throws the compute port's errors (ThrottledError / TransientError are retried by the state machine)
 */
export async function prepareTarget(input: PrepareTargetInput, deps: FailbackDeps): Promise<TargetState> {
  const runTags = { [RUN_TAG]: input.runId };
  const targets: { volumeKey: string; targetVolumeId: string; sizeBytes: number }[] = [];
  const bases: TargetBase[] = [];
  const unproven: string[] = [];
  for (const volume of input.volumes) {
    // A volume a rolled-back run kept, proven to hold a snapshot of this takeover volume, is written incrementally.
    const adopted = await adoptKeptTarget(input.runId, volume, deps);
    if ('base' in adopted) bases.push(adopted.base);
    else unproven.push(adopted.reason);
    const targetVolumeId =
      'base' in adopted
        ? adopted.targetVolumeId
        : await deps.compute.createVolume({
            clientToken: idempotencyToken(input.runId, 'target', volume.volumeKey),
            sizeBytes: volume.sizeBytes,
            tags: { ...runTags, [SOURCE_VOLUME_TAG]: volume.volumeId, Name: `homebound ${volume.volumeKey}` },
          });
    targets.push({ volumeKey: volume.volumeKey, targetVolumeId, sizeBytes: volume.sizeBytes });
  }
  // One pass has one kind for every volume: incremental only when every volume holds its base.
  const incremental = unproven.length === 0;
  const firstPass: FirstPass = incremental
    ? {
        kind: 'incremental',
        reason: `every target volume was kept by an earlier run and holds its snapshot (${bases
          .map(
            (base) =>
              `${base.volumeKey}: ${base.snapshotId}, run ${base.provenBy.runId} pass ${base.provenBy.passNumber}`,
          )
          .join('; ')})`,
      }
    : { kind: 'full', reason: unproven.join('; ') };
  const holds = new Map(incremental ? bases.map((base) => [base.volumeKey, base.snapshotId]) : []);
  if (!deps.gatewayRunKey) throw new GatewayAckSecretMissingError('PrepareTarget');
  const runKey = await deps.gatewayRunKey(input.runId);
  const gatewayHostId = await deps.compute.runInstance({
    clientToken: idempotencyToken(input.runId, 'gateway'),
    role: 'gateway',
    name: `homebound-gateway-${input.runId}`,
    tags: runTags,
    userData: renderGatewayUserData(
      {
        format: GATEWAY_CONFIG_FORMAT,
        runId: input.runId,
        staging: { bucket: deps.stagingBucket, prefix: runLayout.volumes(input.runId) },
        volumes: targets.map(({ volumeKey, targetVolumeId, sizeBytes }) => ({
          volumeKey,
          volumeId: targetVolumeId,
          sizeBytes,
          ...(holds.has(volumeKey) ? { holdsSnapshotId: holds.get(volumeKey) } : {}),
        })),
        pollMs: 500,
        // Only this instance sees its user data (gateway roles have no ec2:Describe*), so only it can sign for the
        // run. Derived, not random: a retried launch asks for the same instance (same ClientToken, same user data).
        ackKey: runKey.toString('hex'),
        // The gateway writes below `<this>/<its instance ARN>/`, the only place its role lets it write.
        recordsPrefix: runLayout.gateways(input.runId),
        heartbeat: {
          intervalSeconds: (input.gateway ?? DEFAULT_GATEWAY_LIVENESS).heartbeatSeconds,
        },
      },
      { artifact: deps.gatewayArtifact },
    ),
  });
  const volumes = targets.map((target, i) => ({
    volumeKey: target.volumeKey,
    targetVolumeId: target.targetVolumeId,
    gatewayDevice: GATEWAY_DEVICES[i] ?? '',
  }));
  for (const volume of volumes) {
    await deps.compute.attachVolume(volume.targetVolumeId, gatewayHostId, volume.gatewayDevice);
  }
  return { gatewayHostId, volumes, bases: incremental ? bases : [], firstPass };
}
