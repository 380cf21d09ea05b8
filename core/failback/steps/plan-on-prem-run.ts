import { z } from 'zod';
import { UnknownInstanceTypeError } from '../../compute/errors.js';
import type { InstanceTypeInfo } from '../../compute/port.js';
import { GatewayAckSecretMissingError } from '../errors.js';
import { findKeptBase, takeOverBase } from '../find-kept-base.js';
import type { TargetBase } from '../kept-target.js';
import { type FailbackDeps, RunVolume, runLayout, TakeoverHost } from '../run-state.js';

export const PlanOnPremRunInput = z.object({
  runId: z.string(),
  hosts: z.array(TakeoverHost).min(1),
  volumes: z.array(RunVolume).min(1),
  /** The request's `agent` (core/methods/conditional-automated.ts). */
  agent: z.object({
    heartbeatSeconds: z.number().int().positive(),
    unavailableAfterSeconds: z.number().int().positive(),
  }),
});
export type PlanOnPremRunInput = z.infer<typeof PlanOnPremRunInput>;

/** What the agent's PrepareTarget is given (docs/agent.md) and what CheckApplied reads, planned once per run. */
export interface OnPremPlan {
  /** Each takeover host with the size of its instance type: the failback VM gets the same vCPUs and memory. */
  readonly hosts: {
    hostId: string;
    name: string;
    instanceType: string;
    vCpus: number;
    memoryMiB: number;
    vmName?: string;
    placement?: { folder?: string; resourcePool?: string; datastore?: string; portGroup?: string };
    /** The seed VM whose disks become the target disks and which is the failback VM (seeded failback). */
    seed?: { vm: string; powerOff: boolean };
  }[];
  /** The takeover volumes in their host's device order (0 = boot disk): the VM's disks in the same order. */
  readonly volumes: { hostId: string; volumeId: string; volumeKey: string; deviceIndex: number; sizeBytes: number }[];
  /** Where the passes are staged (the method's staging store, chosen by the wiring). */
  readonly stagingPrefix: string;
  /** Where the agent writes its acks, apply errors and heartbeat: the scope CheckApplied reads. */
  readonly recordsPrefix: string;
  readonly heartbeat: { intervalSeconds: number };
  /** The run's gateway key (hex): the agent MACs its records with it, CheckApplied verifies them. */
  readonly ackKey: string;
  /** The agent's data-path liveness, in the shape CheckApplied takes for any applying side. */
  readonly liveness: { heartbeatSeconds: number; unavailableAfterSeconds: number };
  /**
   * The snapshots a rolled-back run kept for every takeover volume, proven by their signed records
   * (core/failback/find-kept-base.ts): the agent's PrepareTarget says whether its disks hold them. Empty when any
   * volume has none (the first pass is full); `noBaseReason` says why.
   */
  readonly bases: TargetBase[];
  readonly noBaseReason: string;
}

/**
 * The VM's size and name as the request's vSphere settings ask (core/failback/resolve-hosts.ts), else the takeover
 * host's instance type's size; its placement, when asked, for the agent to honour or refuse (docs/agent.md).
 */
function vmSettings(host: TakeoverHost, size: InstanceTypeInfo) {
  const asked = host.failback?.platform === 'vsphere' ? host.failback : undefined;
  const placement = Object.fromEntries(
    (['folder', 'resourcePool', 'datastore', 'portGroup'] as const).flatMap((key) =>
      asked?.[key] === undefined ? [] : [[key, asked[key]]],
    ),
  );
  return {
    vCpus: asked?.numCPUs ?? size.vCpus,
    memoryMiB: asked?.memoryMiB ?? size.memoryMiB,
    ...(asked?.vmName === undefined ? {} : { vmName: asked.vmName }),
    ...(Object.keys(placement).length === 0 ? {} : { placement }),
    ...(asked?.seed === undefined ? {} : { seed: asked.seed }),
  };
}

/**
 * Plans the on-prem side of a conditional-automated run: sizes each failback host from its takeover host's instance
 * type (the compute port's DescribeInstanceTypes), orders the disks as the takeover host's devices, and hands the
 * agent the run key and the prefix it must write its records under. Creates nothing.
 * @throws UnknownInstanceTypeError (a host without or with an unknown instance type), GatewayAckSecretMissingError
 */
export async function planOnPremRun(input: PlanOnPremRunInput, deps: FailbackDeps): Promise<OnPremPlan> {
  if (!deps.gatewayRunKey) throw new GatewayAckSecretMissingError('PlanOnPremRun');
  const described = await deps.compute.describeHosts({ hostIds: input.hosts.map((host) => host.hostId) });
  const sizes = new Map<string, InstanceTypeInfo>();
  const hosts: OnPremPlan['hosts'] = [];
  for (const host of input.hosts) {
    const instanceType = described.find((candidate) => candidate.hostId === host.hostId)?.instanceType;
    if (!instanceType) throw new UnknownInstanceTypeError(`(none given for host ${host.hostId})`);
    const size = sizes.get(instanceType) ?? (await deps.compute.describeInstanceType(instanceType));
    sizes.set(instanceType, size);
    hosts.push({ hostId: host.hostId, name: host.name, instanceType, ...vmSettings(host, size) });
  }
  // ValidateRequest lists each host's volumes in device order (the compute port sorts them by device name).
  const volumes = input.volumes.map((volume) => ({
    hostId: volume.hostId,
    volumeId: volume.volumeId,
    volumeKey: volume.volumeKey,
    deviceIndex: input.volumes.filter((other) => other.hostId === volume.hostId).indexOf(volume),
    sizeBytes: volume.sizeBytes,
  }));
  const runKey = await deps.gatewayRunKey(input.runId);
  const found = [];
  for (const volume of input.volumes) found.push(await findKeptBase(input.runId, volume, deps));
  const bases = found.flatMap((result) => ('base' in result ? [result.base] : []));
  const missing = found.flatMap((result) => ('reason' in result ? [result.reason] : []));
  if (missing.length === 0) for (const base of bases) await takeOverBase(input.runId, base, deps);
  return {
    hosts,
    volumes,
    stagingPrefix: runLayout.volumes(input.runId),
    recordsPrefix: runLayout.agent(input.runId),
    heartbeat: { intervalSeconds: input.agent.heartbeatSeconds },
    ackKey: runKey.toString('hex'),
    liveness: {
      heartbeatSeconds: input.agent.heartbeatSeconds,
      unavailableAfterSeconds: input.agent.unavailableAfterSeconds,
    },
    bases: missing.length === 0 ? bases : [],
    noBaseReason: missing.join('; '),
  };
}
