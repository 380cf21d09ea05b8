import { z } from 'zod';
import { ACK_KEY, passPrefix } from '../../engine/layout.js';
import { PassAck, parseStagedJson } from '../../engine/manifest.js';
import { ApplyErrorRecord, applyErrorKey } from '../../gateway/run-gateway.js';
import { ApplyFailedError, ApplyTimedOutError, UnexpectedHostStateError } from '../errors.js';
import { type FailbackDeps, PassState, runLayout } from '../run-state.js';

export const CheckAppliedInput = z.object({
  runId: z.string(),
  pass: PassState,
  gatewayHostId: z.string(),
  applyTimeoutSeconds: z.number().int().positive(),
});
export type CheckAppliedInput = z.infer<typeof CheckAppliedInput>;

/**
 * Whether the sync gateway has made the pass durable on every target volume: each volume's ack.json names this
 * pass's snapshot. Fails fast with ApplyFailedError when the gateway recorded a refusal (e.g. a corrupt segment),
 * UnexpectedHostStateError when the gateway is no longer running, ApplyTimedOutError after `applyTimeoutSeconds`.
 */
export async function checkApplied(
  input: CheckAppliedInput,
  deps: FailbackDeps,
): Promise<{ applied: boolean; volumesApplied: number }> {
  const staging = deps.staging(runLayout.volumes(input.runId));
  let volumesApplied = 0;
  for (const snapshot of input.pass.snapshots) {
    const failure = await staging.head(applyErrorKey(snapshot.volumeKey, input.pass.number));
    if (failure) {
      const key = failure.key;
      const record = parseStagedJson(ApplyErrorRecord, await staging.get(key), key);
      throw new ApplyFailedError(
        `the sync gateway could not apply pass ${input.pass.number} of ${snapshot.volumeKey}: ${record.error}: ${record.message}`,
      );
    }
    const ackKey = passPrefix(snapshot.volumeKey, input.pass.number) + ACK_KEY;
    if (!(await staging.head(ackKey))) continue;
    const ack = parseStagedJson(PassAck, await staging.get(ackKey), ackKey);
    if (ack.snapshotId !== snapshot.snapshotId) {
      throw new ApplyFailedError(`${ackKey} acknowledges ${ack.snapshotId}, not this pass's ${snapshot.snapshotId}`);
    }
    volumesApplied++;
  }
  if (volumesApplied === input.pass.snapshots.length) return { applied: true, volumesApplied };

  const [gateway] = await deps.compute.describeHosts({ hostIds: [input.gatewayHostId] });
  if (gateway && gateway.state !== 'running' && gateway.state !== 'pending') {
    throw new UnexpectedHostStateError(`the sync gateway ${input.gatewayHostId} is ${gateway.state}, not running`);
  }
  const startedAt = Date.parse(input.pass.startedAt ?? '');
  if (deps.now().getTime() - startedAt > input.applyTimeoutSeconds * 1000) {
    throw new ApplyTimedOutError(
      `pass ${input.pass.number} was not applied within ${input.applyTimeoutSeconds} s (${volumesApplied} of ${input.pass.snapshots.length} volumes acknowledged)`,
    );
  }
  return { applied: false, volumesApplied };
}
