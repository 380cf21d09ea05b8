import type { NetworkRemap } from '../../core/failback/host-settings.js';

/**
 * How a drill (`--hosts N`, `--waves K`) lays its hosts out, as a real fleet would be: hosts split into K waves in
 * order, as evenly as can be (wave 1 first: the databases), each wave in its own subnet on the DR side
 * (`10.8.<wave>.0/24`) and at home (`192.168.<wave>.0/24`), the request keeping each takeover host's address through
 * the remap `10.8.<wave>.0/24 → 192.168.<wave>.0/24`; wave 1 fails back as r5.large (memory for the databases), the
 * other waves as c5.large, where the takeover hosts ran as t3.medium. So a drill proves each failback host got what
 * its request asked for: another type, another subnet, its address after the remap.
 */

/** The takeover hosts' instance type in the DR Region. */
export const DRILL_TAKEOVER_TYPE = 't3.medium';

export interface DrillFleetHost {
  /** 0-based position in the request. */
  readonly index: number;
  readonly wave: number;
  /** The takeover host's address on the DR side. */
  readonly takeoverIp: string;
  /** Its failback host's address at home: the takeover address after the remap. */
  readonly homeIp: string;
  readonly failbackType: string;
}

export interface DrillWaveNetwork {
  readonly wave: number;
  /** The DR-side block of the wave's takeover hosts. */
  readonly drCidr: string;
  /** The home block of the wave's failback hosts. */
  readonly homeCidr: string;
}

export interface DrillFleetPlan {
  readonly hosts: readonly DrillFleetHost[];
  readonly networks: readonly DrillWaveNetwork[];
  readonly remap: readonly NetworkRemap[];
}

/**
 * The plan for `hosts` takeover hosts in `waves` waves (1 ≤ waves ≤ hosts ≤ 100).
 * @throws RangeError when the counts are out of range (the CLI refuses them first, naming the option)
 */
export function drillFleetPlan(hosts: number, waves: number): DrillFleetPlan {
  if (!(Number.isInteger(hosts) && hosts >= 1 && hosts <= 100)) throw new RangeError(`hosts ${hosts}: 1–100`);
  if (!(Number.isInteger(waves) && waves >= 1 && waves <= hosts)) throw new RangeError(`waves ${waves}: 1–${hosts}`);
  const networks = Array.from({ length: waves }, (_, i) => ({
    wave: i + 1,
    drCidr: `10.8.${i + 1}.0/24`,
    homeCidr: `192.168.${i + 1}.0/24`,
  }));
  const assigned = spreadOverWaves(hosts, waves);
  return {
    hosts: assigned.map((wave, index) => {
      const position = assigned.slice(0, index).filter((earlier) => earlier === wave).length;
      // .10, .11, …: clear of the addresses a subnet reserves (.0–.3 and the last).
      return {
        index,
        wave,
        takeoverIp: `10.8.${wave}.${10 + position}`,
        homeIp: `192.168.${wave}.${10 + position}`,
        failbackType: wave === 1 ? 'r5.large' : 'c5.large',
      };
    }),
    networks,
    remap: networks.map((network) => ({ from: network.drCidr, to: network.homeCidr })),
  };
}

/** Each host's wave: contiguous, as even as can be, the earlier waves taking the remainder (12 in 3: 4, 4, 4). */
function spreadOverWaves(hosts: number, waves: number): number[] {
  const base = Math.floor(hosts / waves);
  const extra = hosts % waves;
  return Array.from({ length: waves }, (_, i) => Array<number>(base + (i < extra ? 1 : 0)).fill(i + 1)).flat();
}
