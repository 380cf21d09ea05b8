import { z } from 'zod';
import { type FailbackDeps, PassState, RUN_TAG, runLayout, TargetState } from '../run-state.js';
import { hostsOfRun } from './rollback.js';

export const CleanUpInput = z.object({
  runId: z.string(),
  target: TargetState.optional(),
  pass: PassState.optional(),
});

/**
 * Removes what the run made only to move data: the sync gateway (terminated), the snapshots still held (the pass's
 * and any other tagged with the run; earlier ones went as each pass superseded them), and the run's staged segments. The run record (pass records, report)
 * stays. Idempotent, so it runs after a success and after a rollback alike.
 */
export async function cleanUp(
  input: z.infer<typeof CleanUpInput>,
  deps: FailbackDeps,
): Promise<{ terminated: string[]; snapshotsDeleted: number; objectsDeleted: number }> {
  const terminated = await hostsOfRun(deps, input.runId, 'gateway', input.target ? [input.target.gatewayHostId] : []);
  if (terminated.length > 0) await deps.compute.terminateInstances(terminated);
  // The pass's own snapshots, and any other the run took (a retried SnapshotVolumes may have left one behind).
  const tagged = await deps.compute.findSnapshots({ [RUN_TAG]: input.runId });
  const snapshots = new Set([
    ...(input.pass?.snapshots ?? []).flatMap((snapshot) => [snapshot.snapshotId, snapshot.baseSnapshotId ?? []].flat()),
    ...tagged.map((snapshot) => snapshot.snapshotId),
  ]);
  if (snapshots.size > 0) await deps.compute.deleteSnapshots([...snapshots]);
  // Every gateway's records of the run go too, also any another instance wrote below its own ARN for this run, and
  // the on-prem agent's (its journal, what a next run continues from, is in its own state dir, not here).
  const objectsDeleted =
    (await deps.staging(runLayout.volumes(input.runId)).deletePrefix('')) +
    (await deps.staging(runLayout.gateways(input.runId)).deletePrefix('')) +
    (await deps.staging(runLayout.agent(input.runId)).deletePrefix(''));
  return { terminated, snapshotsDeleted: snapshots.size, objectsDeleted };
}
