import { z } from 'zod';
import { ROLE_TAG } from '../../compute/port.js';
import {
  HostWithoutVolumesError,
  InvalidFailbackRequestError,
  MissingTakeoverTagError,
  NotATakeoverHostError,
} from '../errors.js';
import { parseFailbackRequest } from '../request.js';
import { type FailbackDeps, RunId, type RunInventory, type RunVolume } from '../run-state.js';

export const ValidateRequestInput = z.object({ runId: z.string(), request: z.unknown() });
export type ValidateRequestInput = z.infer<typeof ValidateRequestInput>;

/**
 * The request with the deployment's convergence threshold where it sets none (an EventBridge event or a console
 * start that leaves it out). Anything that is not an object is left for the parser to name.
 */
function withDeploymentDefaults(raw: unknown, deps: FailbackDeps): unknown {
  const thresholdMiB = deps.defaultConvergenceThresholdMiB;
  if (thresholdMiB === undefined || !isRecord(raw)) return raw;
  const convergence = raw.convergence ?? {};
  if (!isRecord(convergence) || convergence.thresholdMiB !== undefined) return raw;
  return { ...raw, convergence: { ...convergence, thresholdMiB } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A pass's objects are all created after it starts, and a pass not acknowledged `applyTimeoutSeconds` after its start
 * fails the run; so while a run needs an object it is younger than that. Keeping that shorter than the bucket's
 * expiry means the lifecycle rule never removes a pass before its ack (docs/sync-gateway.md).
 * @throws InvalidFailbackRequestError
 */
function checkStagingOutlivesPasses(applyTimeoutSeconds: number, stagingExpiryDays: number | undefined): void {
  if (stagingExpiryDays === undefined || applyTimeoutSeconds < stagingExpiryDays * 86_400) return;
  throw new InvalidFailbackRequestError(
    `failback request field applyTimeoutSeconds: ${applyTimeoutSeconds} s is not shorter than the staging expiry (${stagingExpiryDays} days), so a pass could expire before the gateway applies it`,
  );
}

/**
 * The first state: checks the request and discovers the takeover hosts and their volumes. Creates nothing, so a bad
 * request ends the run before any resource exists.
 * @throws UnknownMethodError, MissingTargetError, InvalidFailbackRequestError, HostNotFoundError (naming the id),
 *   NotATakeoverHostError, MissingTakeoverTagError, HostWithoutVolumesError
 */
export async function validateRequest(input: ValidateRequestInput, deps: FailbackDeps): Promise<RunInventory> {
  const request = parseFailbackRequest(withDeploymentDefaults(input.request, deps));
  const runId = RunId.safeParse(input.runId);
  if (!runId.success)
    throw new InvalidFailbackRequestError(`run id "${input.runId}": ${runId.error.issues[0]?.message}`);
  checkStagingOutlivesPasses(request.applyTimeoutSeconds, deps.stagingExpiryDays);
  const duplicate = request.hosts.find((hostId, i) => request.hosts.indexOf(hostId) !== i);
  if (duplicate) throw new InvalidFailbackRequestError(`failback request field hosts: ${duplicate} is listed twice`);

  const hosts = await deps.compute.describeHosts({ hostIds: request.hosts });
  const volumes: RunVolume[] = [];
  for (const hostId of request.hosts) {
    const host = hosts.find((candidate) => candidate.hostId === hostId);
    if (!host) throw new InvalidFailbackRequestError(`host ${hostId} was not described`);
    if (host.role !== 'takeover') throw new NotATakeoverHostError(hostId, host.tags[ROLE_TAG] ?? host.role);
    if (host.tags[deps.takeoverTag.key] !== deps.takeoverTag.value) {
      throw new MissingTakeoverTagError(hostId, deps.takeoverTag);
    }
    if (host.volumes.length === 0) throw new HostWithoutVolumesError(hostId);
    for (const volume of host.volumes) {
      volumes.push({
        hostId,
        volumeId: volume.volumeId,
        device: volume.device,
        sizeBytes: volume.sizeBytes,
        volumeKey: volume.volumeId,
      });
    }
  }
  return {
    runId: runId.data,
    request,
    hosts: request.hosts.map((hostId) => ({
      hostId,
      name: hosts.find((host) => host.hostId === hostId)?.tags.Name ?? hostId,
    })),
    takeoverHostIds: request.hosts,
    volumes,
  };
}
