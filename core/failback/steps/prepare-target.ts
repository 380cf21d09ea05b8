import { z } from 'zod';
import { idempotencyToken } from '../../compute/port.js';
import { GATEWAY_CONFIG_FORMAT, renderGatewayUserData } from '../../gateway/config.js';
import { gatewaySeedRecordKey } from '../../gateway/scope.js';
import { adoptKeptTarget, SOURCE_VOLUME_TAG } from '../adopt-target.js';
import { prepareSeedTarget, type SeedTarget } from '../aws-seeds.js';
import { GatewayAckSecretMissingError } from '../errors.js';
import { GATEWAY_DEVICES, MAX_VOLUMES_PER_GATEWAY } from '../gateway-devices.js';
import { planGateways } from '../gateway-plan.js';
import type { FirstPass, TargetBase } from '../kept-target.js';
import { DEFAULT_GATEWAY_LIVENESS, GatewayLiveness } from '../request-fields.js';
import {
  type FailbackDeps,
  RUN_TAG,
  RunVolume,
  runLayout,
  type TargetGateway,
  type TargetState,
  type TargetVolume,
} from '../run-state.js';

export { SOURCE_VOLUME_TAG } from '../adopt-target.js';
export { GATEWAY_DEVICES } from '../gateway-devices.js';

export const PrepareTargetInput = z.object({
  runId: z.string(),
  volumes: z.array(RunVolume).min(1),
  /** Absent in inputs of executions started before it existed: the defaults. */
  gateway: GatewayLiveness.optional(),
  /** The request's `target.volumesPerGateway`; absent in inputs of executions started before it existed: 21. */
  volumesPerGateway: z.number().int().min(1).max(MAX_VOLUMES_PER_GATEWAY).optional(),
});
export type PrepareTargetInput = z.infer<typeof PrepareTargetInput>;

/**
 * Creates the target side: one encrypted target volume per takeover volume (same size) — or takes over the one a
 * rolled-back run kept for it, when that provably holds one of its snapshots (core/failback/adopt-target.ts; the
 * first pass is then incremental from it, and the gateway's applier is told so) — and as many sync gateways as the
 * volumes need at `volumesPerGateway` each (a host's volumes on one gateway where they fit, core/failback/
 * gateway-plan.ts). A seeded volume's target is its seed (core/failback/aws-seeds.ts): the seed volume itself, or a
 * volume created from a seed snapshot, its pre-failback state kept in a tagged snapshot before it is attached; its
 * gateway hashes it and publishes the hashes (`seed.recordKey` in the result), and the first pass is `seeded`.
 * Each gateway's user data installs the gateway bundle (checked against its SHA-256) and starts the
 * applier for this run's staging prefix and only its own volumes; then its volumes are attached to it. A gateway
 * waits for its devices, so attaching after launch is safe. Everything is tagged with the run id.
 * Idempotent: volumes and gateways are created with ClientTokens derived from the run (a gateway's from its index in
 * the plan, which the same input always gives), and attaching what is already attached is a no-op, so a retry after
 * a timeout finds what the first attempt made instead of making it twice.
 * @throws SeedInUseError; the compute port's errors (ThrottledError / TransientError are retried by the state machine)
 */
export async function prepareTarget(input: PrepareTargetInput, deps: FailbackDeps): Promise<TargetState> {
  const runTags = { [RUN_TAG]: input.runId };
  const targets: { volumeKey: string; targetVolumeId: string; sizeBytes: number }[] = [];
  const bases: TargetBase[] = [];
  const unproven: string[] = [];
  const seeds = new Map<string, SeedTarget>();
  for (const volume of input.volumes) {
    if (volume.seed) {
      // The original disk is the target; its pre-failback state is kept in a snapshot before anything writes it.
      const seeded = await prepareSeedTarget(input.runId, volume, volume.seed, deps);
      seeds.set(volume.volumeKey, seeded);
      targets.push({ volumeKey: volume.volumeKey, targetVolumeId: seeded.targetVolumeId, sizeBytes: volume.sizeBytes });
      continue;
    }
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
  // One pass has one kind for every volume: incremental only when every volume holds its base (a seeded volume holds
  // none: its first pass compares with the seed).
  const incremental = unproven.length === 0 && seeds.size === 0;
  const firstPass: FirstPass =
    seeds.size > 0
      ? { kind: 'seeded', reason: seededReason(seeds, input.volumes.length, unproven) }
      : incremental
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
  const targetOf = new Map(targets.map((target) => [target.volumeKey, target]));
  const plan = planGateways(input.volumes, input.volumesPerGateway ?? MAX_VOLUMES_PER_GATEWAY);
  const gateways: TargetGateway[] = [];
  const volumes: TargetVolume[] = [];
  for (const [index, gatewayVolumes] of plan.entries()) {
    const held = gatewayVolumes.flatMap((volume) => targetOf.get(volume.volumeKey) ?? []);
    // The first gateway keeps the token and name of a run's one gateway before runs had several.
    const hostId = await deps.compute.runInstance({
      clientToken:
        index === 0 ? idempotencyToken(input.runId, 'gateway') : idempotencyToken(input.runId, 'gateway', `${index}`),
      role: 'gateway',
      name: index === 0 ? `homebound-gateway-${input.runId}` : `homebound-gateway-${input.runId}-${index + 1}`,
      tags: runTags,
      userData: renderGatewayUserData(
        {
          format: GATEWAY_CONFIG_FORMAT,
          runId: input.runId,
          staging: { bucket: deps.stagingBucket, prefix: runLayout.volumes(input.runId) },
          volumes: held.map(({ volumeKey, targetVolumeId, sizeBytes }) => ({
            volumeKey,
            volumeId: targetVolumeId,
            sizeBytes,
            ...(holds.has(volumeKey) ? { holdsSnapshotId: holds.get(volumeKey) } : {}),
            ...(seeds.has(volumeKey) ? { seed: { id: seeds.get(volumeKey)?.seed ?? volumeKey } } : {}),
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
    gateways.push({ hostId, volumeKeys: held.map((target) => target.volumeKey) });
    for (const [slot, target] of held.entries()) {
      const seeded = seeds.get(target.volumeKey);
      const volume = {
        volumeKey: target.volumeKey,
        targetVolumeId: target.targetVolumeId,
        gatewayDevice: GATEWAY_DEVICES[slot] ?? '',
        gatewayHostId: hostId,
        ...(seeded
          ? {
              seed: {
                recordKey: gatewaySeedRecordKey(input.runId, deps.compute.instanceArn(hostId), target.volumeKey),
                preservedAs: seeded.preservedAs,
              },
            }
          : {}),
      };
      await deps.compute.attachVolume(volume.targetVolumeId, hostId, volume.gatewayDevice);
      volumes.push(volume);
    }
  }
  // An execution started on the definition before runs had several gateways reads `$.target.gatewayHostId` (a
  // missing path is States.Runtime, which no Catch routes to Rollback); its requests never set volumesPerGateway, so
  // it always gets one gateway, named the old way too.
  const [only] = gateways;
  const single = gateways.length === 1 && only ? { gatewayHostId: only.hostId } : {};
  return { gateways, ...single, volumes, bases: incremental ? bases : [], firstPass };
}

/** The first pass's reason when volumes are seeded: what each seed is and what keeps its state; why the others are full. */
function seededReason(seeds: ReadonlyMap<string, SeedTarget>, volumes: number, unproven: readonly string[]): string {
  const seeded = [...seeds].map(
    ([volumeKey, seed]) => `${volumeKey} from ${seed.seed} (its state before this run kept as ${seed.preservedAs})`,
  );
  const full = unproven.length > 0 ? `; the other ${volumes - seeds.size} full: ${unproven.join('; ')}` : '';
  return `${seeds.size} of ${volumes} volume(s) seeded: ${seeded.join('; ')}${full}`;
}
