import { InvalidInputError } from '../errors.js';
import { MAX_VOLUMES_PER_GATEWAY } from './gateway-devices.js';
import type { RunVolume, TargetGateway, TargetState } from './run-state.js';

/**
 * Spreads a run's volumes over sync gateways of at most `volumesPerGateway` volumes each, hosts in the order given
 * (the request's): a host's volumes go to one gateway whenever they fit, so one gateway failing touches as few hosts
 * as possible. A host joins the last gateway when it has room for all its volumes, else a new one. A host with more
 * volumes than a gateway holds is split: it fills whole gateways of its own, and the rest opens the next one (the
 * volumes of a host need not share a gateway — every volume is acknowledged on its own, and a pass counts only when
 * every gateway acknowledged all of its volumes). Next-fit, not bin-packing: it keeps request order, and may use a
 * gateway more than ceil(volumes / volumesPerGateway).
 * @returns the volumes of each gateway, in the order the gateways are launched
 * @throws InvalidInputError for a volumesPerGateway outside 1–21
 */
export function planGateways(volumes: readonly RunVolume[], volumesPerGateway: number): RunVolume[][] {
  if (!Number.isInteger(volumesPerGateway) || volumesPerGateway < 1 || volumesPerGateway > MAX_VOLUMES_PER_GATEWAY) {
    throw new InvalidInputError(
      `volumesPerGateway ${volumesPerGateway}: must be a whole number from 1 to ${MAX_VOLUMES_PER_GATEWAY}`,
    );
  }
  const byHost = new Map<string, RunVolume[]>();
  for (const volume of volumes) byHost.set(volume.hostId, [...(byHost.get(volume.hostId) ?? []), volume]);
  const gateways: RunVolume[][] = [];
  for (const hostVolumes of byHost.values()) {
    const last = gateways.at(-1);
    if (last && last.length + hostVolumes.length <= volumesPerGateway) {
      last.push(...hostVolumes);
      continue;
    }
    for (let start = 0; start < hostVolumes.length; start += volumesPerGateway) {
      gateways.push(hostVolumes.slice(start, start + volumesPerGateway));
    }
  }
  return gateways;
}

/**
 * The run's gateways with the volume keys each holds. A run whose PrepareTarget ran before runs had several gateways
 * has a single `gatewayHostId` holding every target volume: read as one gateway.
 * @throws InvalidInputError when the state names no gateway
 */
export function targetGateways(target: TargetState): TargetGateway[] {
  if (target.gateways) return target.gateways;
  if (target.gatewayHostId) {
    return [{ hostId: target.gatewayHostId, volumeKeys: target.volumes.map((volume) => volume.volumeKey) }];
  }
  throw new InvalidInputError('the run target names no sync gateway (neither gateways nor gatewayHostId)');
}

/**
 * The sync gateway holding a target volume.
 * @throws InvalidInputError when no gateway of the run holds it
 */
export function gatewayOfVolume(target: TargetState, volumeKey: string): string {
  const gateway = targetGateways(target).find((candidate) => candidate.volumeKeys.includes(volumeKey));
  if (!gateway) throw new InvalidInputError(`no sync gateway of the run holds ${volumeKey}`);
  return gateway.hostId;
}
