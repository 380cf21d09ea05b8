import { blockCountFor } from '../../core/blocks.js';
import type { TakeoverHostRequest } from '../../core/compute/local-compute.js';
import type { Host } from '../../core/compute/port.js';
import { writeVolumeBlocks } from '../../core/localcloud/local-volume.js';
import { seededRandom } from '../../core/seeded-random.js';
import type { LocalFailback } from '../../core/wiring/local.js';
import { blockBytes, chooseContent, repeatedBlocks } from '../bench/volume-generator.js';
import { DRILL_TAKEOVER_TYPE, type DrillFleetPlan, drillFleetPlan } from './fleet-plan.js';

export interface DrillHostOptions {
  readonly name: string;
  readonly volumes: number;
  readonly sizeBytes: number;
  readonly writesPerSecond: number;
  readonly seed: number;
  /** What the host stands for in AWS (instance type, network, tags besides the takeover tag). @default m5.large, no network */
  readonly host?: Pick<TakeoverHostRequest, 'instanceType' | 'subnetId' | 'privateIp' | 'tags'>;
}

/**
 * A takeover host for a drill: `volumes` volumes filled with a realistic mix of data (holes, zeros, random and
 * repeated blocks, as `homebound bench` makes), and a workload that keeps writing while the host runs. The volumes
 * are filled before the workload starts, so its record of writes stays the truth about what the host wrote.
 */
export async function createDrillTakeoverHost(env: LocalFailback, options: DrillHostOptions): Promise<Host> {
  const random = seededRandom(options.seed + 1);
  const library = repeatedBlocks();
  return env.compute.createTakeoverHost({
    name: options.name,
    volumes: Array.from({ length: options.volumes }, () => ({ sizeBytes: options.sizeBytes })),
    writesPerSecond: options.writesPerSecond,
    seed: options.seed,
    ...options.host,
    // Tagged as a takeover host in AWS would be: ValidateRequest refuses a host without the deployment's tag.
    tags: { ...options.host?.tags, [env.deps.takeoverTag.key]: env.deps.takeoverTag.value },
    fill: async (path) => {
      for (let index = 0; index < blockCountFor(options.sizeBytes); index++) {
        const data = blockBytes(chooseContent(random), index, options.sizeBytes, library, random);
        if (data) await writeVolumeBlocks(path, index, data);
      }
    },
  });
}

/**
 * Each host's share of the fleet's `writesPerSecond` (at least 1): a fleet changes about as much per second as one
 * host does, so a bigger fleet still converges within the same passes.
 */
export function hostWritesPerSecond(options: { readonly hosts: number; readonly writesPerSecond: number }): number {
  return Math.max(1, Math.round(options.writesPerSecond / options.hosts));
}

/** The drill's takeover hosts as created, their plan, and the home subnet of each wave. */
export interface DrillFleet {
  readonly hosts: readonly Host[];
  readonly plan: DrillFleetPlan;
  /** The home subnet's id by wave: where the wave's failback hosts are asked to run. */
  readonly homeSubnets: ReadonlyMap<number, string>;
}

/**
 * The drill's takeover hosts: `options.hosts` of them (`drill-app`, or `drill-app-01`… for a fleet), each with
 * `options.volumes` volumes of `options.sizeMiB` and its own seed, so no two hosts hold the same data; laid out in
 * `options.waves` waves with their DR and home subnets as cli/drill/fleet-plan.ts says.
 */
export async function createDrillFleet(
  env: LocalFailback,
  options: {
    readonly hosts: number;
    readonly waves: number;
    readonly volumes: number;
    readonly sizeMiB: number;
    readonly writesPerSecond: number;
    readonly seed: number;
  },
): Promise<DrillFleet> {
  const plan = drillFleetPlan(options.hosts, options.waves);
  const drSubnets = new Map<number, string>();
  const homeSubnets = new Map<number, string>();
  for (const network of plan.networks) {
    drSubnets.set(network.wave, (await env.compute.createSubnet(network.drCidr)).subnetId);
    homeSubnets.set(network.wave, (await env.compute.createSubnet(network.homeCidr)).subnetId);
  }
  const hosts: Host[] = [];
  for (const planned of plan.hosts) {
    const i = planned.index;
    hosts.push(
      await createDrillTakeoverHost(env, {
        name: options.hosts === 1 ? 'drill-app' : `drill-app-${String(i + 1).padStart(2, '0')}`,
        volumes: options.volumes,
        sizeBytes: options.sizeMiB * 1024 * 1024,
        writesPerSecond: hostWritesPerSecond(options),
        // Far apart, so host i's seed never equals host j's seed + 1 (the fill's).
        seed: options.seed + i * 7919,
        host: {
          instanceType: DRILL_TAKEOVER_TYPE,
          subnetId: drSubnets.get(planned.wave) ?? '',
          privateIp: planned.takeoverIp,
          tags: { tier: planned.wave === 1 ? 'database' : 'application' },
        },
      }),
    );
  }
  return { hosts, plan, homeSubnets };
}

/**
 * The request's `hosts` and `network` for the fleet: each host in its wave, failing back as its plan says (type, home
 * subnet, its address kept through the remap).
 */
export function fleetRequest(fleet: DrillFleet) {
  return {
    hosts: fleet.hosts.map((host, i) => {
      const planned = fleet.plan.hosts[i];
      const wave = planned?.wave ?? 1;
      return {
        id: host.hostId,
        wave,
        failback: {
          instanceType: planned?.failbackType ?? DRILL_TAKEOVER_TYPE,
          subnetId: fleet.homeSubnets.get(wave) ?? '',
          privateIp: 'keep',
        },
      };
    }),
    network: { remap: [...fleet.plan.remap] },
  };
}
