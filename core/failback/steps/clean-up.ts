import { z } from 'zod';
import { HostNotFoundError } from '../../compute/errors.js';
import { PRESERVES_SEED_OF_TAG } from '../aws-seeds.js';
import { targetGateways } from '../gateway-plan.js';
import { keepAppliedPasses } from '../keep-applied.js';
import { keepTargets } from '../keep-target.js';
import { BASE_OF_TAG, type KeptTarget, TargetBase } from '../kept-target.js';
import { type RemovedFailbackHosts, removeFailbackHosts } from '../remove-failback-hosts.js';
import { type FailbackDeps, PassState, RUN_TAG, RunVolume, runLayout, TargetState } from '../run-state.js';
import { hostsOfRun } from './rollback.js';

export const CleanUpInput = z.object({
  runId: z.string(),
  target: TargetState.optional(),
  pass: PassState.optional(),
  volumes: z.array(RunVolume).optional(),
  /**
   * Present after a rollback: the run's failback hosts are terminated (target volumes detached first) and its target
   * volumes kept, each with the last snapshot it provably holds.
   */
  rollback: z.object({ reason: z.string() }).optional(),
  /** The failback hosts LaunchFailbackHosts reported (others are found by the run tag). */
  failback: z.object({ hostIds: z.array(z.string()) }).optional(),
  /**
   * An applier outside AWS (the on-prem agent, conditional-automated) applied the passes: where it wrote its acks
   * (PlanOnPremRun's `onprem`), whether its Rollback succeeded (it stopped writing), and the kept snapshots the
   * run started from (its PrepareTarget's answer). After a rollback its disks' last proven snapshots are kept.
   */
  onprem: z.object({ recordsPrefix: z.string() }).optional(),
  onpremRollback: z.object({ operation: z.literal('Rollback') }).optional(),
  onpremTarget: z.object({ bases: z.array(TargetBase).optional() }).optional(),
});

/**
 * How long CleanUp waits for hosts in all, one deadline (well inside its Lambda timeout): the gateways gone before it
 * decides what a kept volume holds, and after a rollback the failback hosts stopped (to detach targets) and gone.
 */
const HOSTS_WAIT_MS = 120_000;
const POLL_MS = 1_000;

/**
 * Removes what the run made only to move data: the sync gateways (terminated), the snapshots still held (the pass's
 * and any other tagged with the run; earlier ones went as each pass superseded them), and the run's staged segments.
 * The run record (pass records, report) stays. After a rollback the run's failback hosts are terminated too (Rollback
 * only stopped them; a stopped host keeps its private address, which a retry may ask again), any target volume on
 * one detached first (core/failback/remove-failback-hosts.ts); the target volumes stay, and each keeps the last
 * snapshot it provably holds (core/failback/keep-target.ts), so the next run on the same takeover hosts can start
 * with an incremental pass; every other snapshot goes, except those keeping a seed's state before the run (and a
 * seeded target volume is never deleted: it is the original disk). Idempotent, so it runs after a success and after a rollback
 * alike.
 */
export async function cleanUp(
  input: z.infer<typeof CleanUpInput>,
  deps: FailbackDeps,
): Promise<{
  terminated: string[];
  snapshotsDeleted: number;
  objectsDeleted: number;
  kept?: KeptTarget[];
  failbackHosts?: RemovedFailbackHosts;
}> {
  const waitUntil = Date.now() + HOSTS_WAIT_MS;
  const gatewayHostIds = input.target ? targetGateways(input.target).map((gateway) => gateway.hostId) : [];
  // Before the gateways go (terminating one detaches its volumes): which target volumes each still held.
  const attachedToGateway = new Map(
    input.rollback && gatewayHostIds.length > 0
      ? (
          await deps.compute.describeHosts({ hostIds: gatewayHostIds }).catch((error: unknown) => {
            if (error instanceof HostNotFoundError) return [];
            throw error;
          })
        ).flatMap((host) => host.volumes.map((volume) => [volume.volumeId, host.hostId] as const))
      : [],
  );
  const terminated = await hostsOfRun(deps, input.runId, 'gateway', gatewayHostIds);
  if (terminated.length > 0) await deps.compute.terminateInstances(terminated);
  // While the gateways shut down (gone() waits below). Only after a rollback: after a success they are production.
  const failbackHosts = input.rollback
    ? await removeFailbackHosts(
        {
          runId: input.runId,
          knownHostIds: input.failback?.hostIds ?? [],
          targetVolumeIds: new Set((input.target?.volumes ?? []).map((volume) => volume.targetVolumeId)),
          waitUntil,
        },
        deps,
      )
    : undefined;
  const kept =
    input.rollback && input.target
      ? await keepTargets(
          {
            runId: input.runId,
            target: input.target,
            takeoverVolumeIds: new Map((input.volumes ?? []).map((volume) => [volume.volumeKey, volume.volumeId])),
            attachedToGateway,
            gatewayGone: await gone(terminated, waitUntil, deps),
          },
          deps,
        )
      : input.rollback && input.onprem && input.volumes
        ? await keepAppliedPasses(
            {
              runId: input.runId,
              volumes: input.volumes,
              recordsPrefix: input.onprem.recordsPrefix,
              applierStopped: input.onpremRollback !== undefined,
              bases: input.onpremTarget?.bases ?? [],
            },
            deps,
          )
        : undefined;
  // Kept too: the snapshots keeping seeds' pre-failback states (tagged with the run, but the operator's to delete).
  const preserved = await preservedSeeds(input.runId, input.volumes ?? [], input.target, deps);
  const keep = new Set([...(kept ?? []).flatMap((volume) => volume.snapshotId ?? []), ...preserved]);
  // The pass's own snapshots, any other the run took (a retried SnapshotVolumes may have left one behind), and the
  // kept snapshot it started from; all but those kept.
  const tagged = [
    ...(await deps.compute.findSnapshots({ [RUN_TAG]: input.runId })),
    ...(await deps.compute.findSnapshots({ [BASE_OF_TAG]: input.runId })),
  ];
  const snapshots = new Set(
    [
      ...(input.pass?.snapshots ?? []).flatMap((snapshot) =>
        [snapshot.snapshotId, snapshot.baseSnapshotId ?? []].flat(),
      ),
      ...tagged.map((snapshot) => snapshot.snapshotId),
    ].filter((snapshotId) => !keep.has(snapshotId)),
  );
  if (snapshots.size > 0) await deps.compute.deleteSnapshots([...snapshots]);
  // Every gateway's records of the run go too, also any another instance wrote below its own ARN for this run, and
  // the on-prem agent's (its journal, what a next run continues from, is in its own state dir, not here).
  const objectsDeleted =
    (await deps.staging(runLayout.volumes(input.runId)).deletePrefix('')) +
    (await deps.staging(runLayout.gateways(input.runId)).deletePrefix('')) +
    (await deps.staging(runLayout.agent(input.runId)).deletePrefix('')) +
    // The StreamPass map's items and results are in the stack's bucket whatever store the passes went to.
    (await (deps.recordStaging ?? deps.staging)(runLayout.passMaps(input.runId)).deletePrefix(''));
  // A retry may ask the addresses they held: EC2 frees one once its instance is terminated.
  if (failbackHosts) await gone(failbackHosts.terminated, waitUntil, deps);
  return {
    terminated,
    snapshotsDeleted: snapshots.size,
    objectsDeleted,
    ...(kept ? { kept } : {}),
    ...(failbackHosts ? { failbackHosts } : {}),
  };
}

/** The snapshots that keep the run's seeds as they were before it (core/failback/aws-seeds.ts). */
async function preservedSeeds(
  runId: string,
  volumes: readonly RunVolume[],
  target: TargetState | undefined,
  deps: FailbackDeps,
): Promise<string[]> {
  const found = [...(target?.volumes ?? []).flatMap((volume) => volume.seed?.preservedAs ?? [])];
  for (const volume of volumes.filter((candidate) => candidate.seed)) {
    const tagged = await deps.compute.findSnapshots({ [PRESERVES_SEED_OF_TAG]: volume.volumeId, [RUN_TAG]: runId });
    found.push(...tagged.map((snapshot) => snapshot.snapshotId));
  }
  return found;
}

/**
 * Waits (bounded) until every host is terminated: a terminated gateway neither writes nor acknowledges any more, a
 * terminated failback host holds no address.
 */
async function gone(hostIds: readonly string[], until: number, deps: FailbackDeps): Promise<boolean> {
  for (;;) {
    const hosts = hostIds.length > 0 ? await deps.compute.describeHosts({ hostIds }) : [];
    if (hosts.every((host) => host.state === 'terminated')) return true;
    if (Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
