import { z } from 'zod';
import { type Host, ROLE_TAG } from '../../compute/port.js';
import { resolveAwsSeeds } from '../aws-seeds.js';
import {
  HostWithoutVolumesError,
  InvalidFailbackRequestError,
  MissingTakeoverTagError,
  NotATakeoverHostError,
} from '../errors.js';
import { AwsFailbackSettings, type HostEntry, hostEntry, VsphereFailbackSettings } from '../host-settings.js';
import { type FailbackRequest, parseFailbackRequest } from '../request.js';
import { resolveAwsHosts, resolveVsphereHosts } from '../resolve-hosts.js';
import {
  type FailbackDeps,
  type HostSettings,
  RunId,
  type RunInventory,
  type RunVolume,
  type TakeoverHost,
  wavesOf,
} from '../run-state.js';

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
 *   NotATakeoverHostError, MissingTakeoverTagError, HostWithoutVolumesError; for seeds (core/failback/aws-seeds.ts)
 *   SeedTooSmallError, SeedInUseError
 */
export async function validateRequest(input: ValidateRequestInput, deps: FailbackDeps): Promise<RunInventory> {
  const request = parseFailbackRequest(withDeploymentDefaults(input.request, deps));
  const runId = RunId.safeParse(input.runId);
  if (!runId.success)
    throw new InvalidFailbackRequestError(`run id "${input.runId}": ${runId.error.issues[0]?.message}`);
  checkStagingOutlivesPasses(request.applyTimeoutSeconds, deps.stagingExpiryDays);
  // The schema refused duplicate hosts and wave gaps, naming the entry.
  const entries: HostEntry<unknown>[] = request.hosts.map((host) => hostEntry<unknown>(host));
  const hostIds = entries.map((entry) => entry.id);

  const hosts = await deps.compute.describeHosts({ hostIds });
  const volumes: RunVolume[] = [];
  for (const hostId of hostIds) {
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
  const settings = await resolveHostSettings(request, entries, hosts, deps);
  const seeded =
    request.method === 'automated'
      ? await resolveAwsSeeds(
          entries.map((entry) => ({ id: entry.id, failback: AwsFailbackSettings.optional().parse(entry.failback) })),
          volumes,
          request.target.powerOffSeed,
          deps.compute,
        )
      : volumes;
  const runHosts = entries.map((entry, i): TakeoverHost => {
    const failback = settings[i];
    return {
      hostId: entry.id,
      name: hosts.find((host) => host.hostId === entry.id)?.tags.Name ?? entry.id,
      wave: entry.wave,
      ...(failback === undefined ? {} : { failback }),
      ...(entry.healthChecks.length === 0 ? {} : { healthChecks: [...entry.healthChecks] }),
    };
  });
  const waves = wavesOf(runHosts);
  return {
    runId: runId.data,
    request,
    hosts: runHosts,
    takeoverHostIds: hostIds,
    volumes: seeded,
    waves,
    wavesStopOrder: [...waves].reverse(),
  };
}

/**
 * What each failback host gets, by the target's platform (core/failback/resolve-hosts.ts); the entries' settings are
 * read again with their platform's schema, which the request's variant already held them to.
 * @throws InvalidFailbackRequestError naming the field
 */
async function resolveHostSettings(
  request: FailbackRequest,
  entries: readonly HostEntry<unknown>[],
  described: readonly Host[],
  deps: FailbackDeps,
): Promise<(HostSettings | undefined)[]> {
  switch (request.target.platform) {
    case 'aws':
      return resolveAwsHosts(
        entries.map((entry) => ({ ...entry, failback: AwsFailbackSettings.optional().parse(entry.failback) })),
        described,
        {
          compute: deps.compute,
          launch: deps.failbackLaunch ?? {},
          takeoverTag: deps.takeoverTag,
          remap: 'network' in request ? (request.network?.remap ?? []) : [],
        },
      );
    case 'vsphere':
      return resolveVsphereHosts(
        entries.map((entry) => ({ ...entry, failback: VsphereFailbackSettings.optional().parse(entry.failback) })),
        { powerOffSeed: 'powerOffSeed' in request.target && request.target.powerOffSeed === true },
      );
    case 'manual': {
      const set = entries.findIndex((entry) => entry.failback !== undefined);
      if (set >= 0) {
        throw new InvalidFailbackRequestError(
          `failback request field hosts[${set}].failback: the manual platform's hosts are the operator's; it takes no failback settings`,
        );
      }
      return entries.map(() => undefined);
    }
  }
}
