import type { Host } from '../../core/compute/port.js';
import { PRESERVES_SEED_OF_TAG } from '../../core/failback/aws-seeds.js';
import { KEPT_FOR_TAG } from '../../core/failback/kept-target.js';
import { RUN_TAG, runLayout } from '../../core/failback/run-state.js';
import type { LocalFailback } from '../../core/wiring/local.js';
import type { DrillStatus } from './drill-report.js';

/**
 * What a run left for a person, found on the local cloud as the run ended: the drill's version of what an operator
 * would check in the console after a failed rollback or clean-up. Empty after a clean outcome.
 */
export async function leftToDo(
  env: LocalFailback,
  runId: string,
  takeoverHostIds: readonly string[],
  status: DrillStatus,
): Promise<string[]> {
  const hosts = await env.compute.describeHosts();
  const ofRun = (host: Host) => host.tags[RUN_TAG] === runId;
  const todo: string[] = [];
  const takeovers = hosts.filter((host) => takeoverHostIds.includes(host.hostId));
  const cutOver = status === 'succeeded' || status === 'failed-after-cutover';
  for (const takeover of takeovers) {
    if (!cutOver && takeover.state !== 'running') {
      todo.push(`start takeover host ${takeover.hostId} (${takeover.state}): production is down until it runs`);
    }
  }
  // Without a cutover a failback host is left over in any state but terminated: CleanUpAfterRollback terminates them
  // (a stopped one keeps its private address, and a retry asking it would be refused).
  for (const host of hosts.filter((candidate) => ofRun(candidate) && candidate.role === 'failback')) {
    if (cutOver || host.state === 'terminated') continue;
    const volumes = host.volumes.map((volume) => volume.volumeId);
    const detach = volumes.length > 0 ? `detach ${volumes.join(', ')} (target volumes, kept), then ` : '';
    const why = host.state === 'running' ? 'the takeover host serves' : 'it still holds its private address';
    todo.push(`${detach}terminate failback host ${host.hostId} (${host.state}): ${why}`);
  }
  for (const takeover of takeovers) {
    if (cutOver && !takeover.tags['homebound:failed-back-to']) {
      todo.push(
        `retire takeover host ${takeover.hostId}: keep it stopped and tag it homebound:failed-back-to=<its failback host>`,
      );
    }
  }
  for (const host of hosts.filter((candidate) => ofRun(candidate) && candidate.role === 'gateway')) {
    if (host.state !== 'terminated') todo.push(`terminate sync gateway ${host.hostId} (${host.state})`);
  }
  // A rolled-back run keeps one snapshot per target volume on purpose (the next run's base), not left over; nor is
  // the snapshot keeping a seed's state from before the run (the operator deletes it once the failback holds).
  const kept = new Set<string>();
  for (const volume of takeovers.flatMap((takeover) => takeover.volumes)) {
    for (const snapshot of [
      ...(await env.compute.findSnapshots({ [KEPT_FOR_TAG]: volume.volumeId })),
      ...(await env.compute.findSnapshots({ [PRESERVES_SEED_OF_TAG]: volume.volumeId, [RUN_TAG]: runId })),
    ]) {
      kept.add(snapshot.snapshotId);
    }
  }
  const snapshots = (await env.compute.findSnapshots({ [RUN_TAG]: runId })).filter(
    (snapshot) => !kept.has(snapshot.snapshotId),
  );
  if (snapshots.length > 0) todo.push(`delete ${snapshots.length} snapshot(s) tagged ${RUN_TAG}=${runId}`);
  // The staged passes, and the records the run's gateways wrote below their own ARNs.
  for (const prefix of [runLayout.volumes(runId), runLayout.gateways(runId)]) {
    const left = await env.deps.staging(prefix).list('');
    if (left.length > 0) todo.push(`delete ${left.length} object(s) under s3://${env.deps.stagingBucket}/${prefix}`);
  }
  return todo;
}
