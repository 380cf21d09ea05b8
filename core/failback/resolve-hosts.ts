import { SubnetNotFoundError, UnknownInstanceTypeError } from '../compute/errors.js';
import { type Cidr, cidrContains, formatIpv4, isUsableInSubnet, parseCidr, parseIpv4 } from '../compute/ipv4.js';
import type { ComputePort, Host } from '../compute/port.js';
import { InvalidFailbackRequestError } from './errors.js';
import {
  type AwsFailbackSettings,
  type HostEntry,
  isReservedTagKey,
  type NetworkRemap,
  type VsphereFailbackSettings,
} from './host-settings.js';
import { type AwsHostSettings, type FailbackLaunchSettings, RUN_TAG, type VsphereHostSettings } from './run-state.js';
import type { TakeoverTag } from './takeover-tag.js';

/**
 * Resolves what each failback host is launched with (docs/failback-request.md, "Per-host settings"): the request's
 * settings, else the takeover host's own (instance type, tags, address), else the deployment's (subnet, groups), and
 * checks the result against what exists (instance types, subnets and their blocks) and what the deployment's IAM
 * allows. Every refusal is an InvalidFailbackRequestError naming the field, e.g. `hosts[3].failback.privateIp`.
 */

/** What resolution needs besides the request. */
export interface ResolveContext {
  readonly compute: ComputePort;
  readonly launch: FailbackLaunchSettings;
  readonly takeoverTag: TakeoverTag;
  readonly remap: readonly NetworkRemap[];
}

function fieldError(field: string, message: string): InvalidFailbackRequestError {
  return new InvalidFailbackRequestError(`failback request field ${field}: ${message}`);
}

/**
 * The takeover host's address moved by the remap table: the address at the same offset in the `to` block of the row
 * whose `from` block holds it; the address itself when no row does. Rows never overlap (the request schema refuses it).
 */
export function remapAddress(address: string, remap: readonly NetworkRemap[]): { address: string; remapped: boolean } {
  const value = parseIpv4(address);
  if (value === undefined) return { address, remapped: false };
  for (const row of remap) {
    const from = parseCidr(row.from);
    const to = parseCidr(row.to);
    if (from && to && cidrContains(from, value))
      return { address: formatIpv4(to.base + (value - from.base)), remapped: true };
  }
  return { address, remapped: false };
}

/** The takeover host's tags a failback host gets by default: not AWS's, not homebound's, not Name, not the takeover tag. */
export function copiedTags(host: Host, takeoverTag: TakeoverTag, allowedKeys: readonly string[] | undefined) {
  return Object.fromEntries(
    Object.entries(host.tags).filter(
      ([key]) => !isReservedTagKey(key) && key !== takeoverTag.key && (allowedKeys?.includes(key) ?? true),
    ),
  );
}

/**
 * The takeover host's own type when the deployment lets failback hosts launch as it, else the deployment's: a
 * deployment that lists one type keeps launching every host as that type, as before per-host settings.
 */
function defaultInstanceType(host: Host, launch: FailbackLaunchSettings): string | undefined {
  const own = host.instanceType;
  if (own !== undefined && (launch.allowedInstanceTypes?.includes(own) ?? true)) return own;
  return launch.instanceType ?? own;
}

/** Lookups made once per run: a fleet shares a few instance types and subnets. */
class Lookups {
  private readonly types = new Map<string, Promise<boolean>>();
  private readonly subnets = new Map<string, Promise<Cidr | undefined>>();

  constructor(private readonly compute: ComputePort) {}

  knownType(instanceType: string): Promise<boolean> {
    let known = this.types.get(instanceType);
    if (!known) {
      known = this.compute.describeInstanceType(instanceType).then(
        () => true,
        (error: unknown) => {
          if (error instanceof UnknownInstanceTypeError) return false;
          throw error;
        },
      );
      this.types.set(instanceType, known);
    }
    return known;
  }

  /** The subnet's block; undefined when the subnet does not exist. */
  subnetBlock(subnetId: string): Promise<Cidr | undefined> {
    let block = this.subnets.get(subnetId);
    if (!block) {
      block = this.compute.describeSubnets([subnetId]).then(
        ([subnet]) => (subnet ? parseCidr(subnet.cidr) : undefined),
        (error: unknown) => {
          if (error instanceof SubnetNotFoundError) return undefined;
          throw error;
        },
      );
      this.subnets.set(subnetId, block);
    }
    return block;
  }
}

/**
 * The AWS settings of every host, in request order. Two hosts may not end on one address of one subnet.
 * @throws InvalidFailbackRequestError naming the field
 */
export async function resolveAwsHosts(
  entries: readonly HostEntry<AwsFailbackSettings>[],
  described: readonly Host[],
  context: ResolveContext,
): Promise<AwsHostSettings[]> {
  const lookups = new Lookups(context.compute);
  const resolved: AwsHostSettings[] = [];
  const addresses = new Map<string, number>();
  for (const [i, entry] of entries.entries()) {
    const host = described.find((candidate) => candidate.hostId === entry.id);
    if (!host) throw fieldError(`hosts[${i}]`, `host ${entry.id} was not described`);
    const settings = await resolveAwsHost(`hosts[${i}].failback`, entry.failback ?? {}, host, context, lookups);
    if (settings.subnetId !== undefined && settings.privateIp !== undefined) {
      const key = `${settings.subnetId} ${settings.privateIp}`;
      const other = addresses.get(key);
      if (other !== undefined) {
        throw fieldError(`hosts[${i}].failback.privateIp`, `${settings.privateIp} is also hosts[${other}]'s address`);
      }
      addresses.set(key, i);
    }
    resolved.push(settings);
  }
  await checkAddressesFree(resolved, context.compute);
  return resolved;
}

/**
 * Refuses an address another instance in its subnet already holds (not terminated: a stopped instance keeps its
 * address), as EC2 would at launch — after the snapshots and the full pass. A likely holder is the stopped failback
 * host of a rolled-back earlier run whose CleanUpAfterRollback failed (it normally terminates them).
 * @throws InvalidFailbackRequestError naming the host's privateIp field
 */
async function checkAddressesFree(resolved: readonly AwsHostSettings[], compute: ComputePort): Promise<void> {
  const subnetIds = [...new Set(resolved.flatMap((settings) => (settings.privateIp ? (settings.subnetId ?? []) : [])))];
  if (subnetIds.length === 0) return;
  const holders = (await compute.describeHosts({ subnetIds })).filter((host) => host.state !== 'terminated');
  for (const [i, settings] of resolved.entries()) {
    const holder = holders.find((host) => host.subnetId === settings.subnetId && host.privateIp === settings.privateIp);
    if (holder === undefined || settings.privateIp === undefined) continue;
    const earlier =
      holder.role === 'failback' ? `, a ${holder.state} failback host of run ${holder.tags[RUN_TAG] ?? '?'}` : '';
    throw fieldError(
      `hosts[${i}].failback.privateIp`,
      `${settings.privateIp} is held by ${holder.hostId} (${holder.state}${earlier}); terminate it or ask another address (or "auto")`,
    );
  }
}

async function resolveAwsHost(
  field: string,
  asked: AwsFailbackSettings,
  host: Host,
  context: ResolveContext,
  lookups: Lookups,
): Promise<AwsHostSettings> {
  const { launch } = context;
  const instanceType = await resolveInstanceType(`${field}.instanceType`, asked.instanceType, host, launch, lookups);
  const { subnetId, block } = await resolveSubnet(`${field}.subnetId`, asked.subnetId, launch, lookups);
  const securityGroupIds = resolveGroups(`${field}.securityGroupIds`, asked.securityGroupIds, launch);
  const tags = resolveTags(`${field}.tags`, asked.tags, host, context);
  const privateIp = resolveAddress(`${field}.privateIp`, asked.privateIp, host, subnetId, block, context.remap);
  return {
    platform: 'aws',
    instanceType,
    ...(subnetId === undefined ? {} : { subnetId }),
    ...(securityGroupIds === undefined ? {} : { securityGroupIds: [...securityGroupIds] }),
    ...(privateIp === undefined ? {} : { privateIp }),
    tags,
  };
}

/** The asked type, else the default; it must exist and be one the deployment's IAM lets failback hosts launch as. */
async function resolveInstanceType(
  field: string,
  asked: string | undefined,
  host: Host,
  launch: FailbackLaunchSettings,
  lookups: Lookups,
): Promise<string> {
  const instanceType = asked ?? defaultInstanceType(host, launch);
  const source = asked ? '' : ' (the default)';
  if (instanceType === undefined) {
    throw fieldError(field, `host ${host.hostId} has no instance type and the deployment sets none`);
  }
  if (!(await lookups.knownType(instanceType))) {
    throw fieldError(field, `instance type ${instanceType}${source} is not known`);
  }
  if (launch.allowedInstanceTypes && !launch.allowedInstanceTypes.includes(instanceType)) {
    throw fieldError(
      field,
      `${instanceType}${source} is not one the deployment lets failback hosts launch as (homebound:failbackInstanceTypes: ${launch.allowedInstanceTypes.join(', ')})`,
    );
  }
  return instanceType;
}

/** The asked subnet, else the deployment's, and its block; it must exist and be one the deployment allows. */
async function resolveSubnet(
  field: string,
  asked: string | undefined,
  launch: FailbackLaunchSettings,
  lookups: Lookups,
): Promise<{ subnetId: string | undefined; block: Cidr | undefined }> {
  const subnetId = asked ?? launch.subnetId;
  if (subnetId === undefined) return { subnetId, block: undefined };
  if (launch.allowedSubnetIds && !launch.allowedSubnetIds.includes(subnetId)) {
    throw fieldError(
      field,
      `${subnetId} is not one the deployment lets failback hosts launch in (homebound:failbackSubnetIds: ${launch.allowedSubnetIds.join(', ')})`,
    );
  }
  const block = await lookups.subnetBlock(subnetId);
  if (block === undefined)
    throw fieldError(field, `subnet ${subnetId}${asked ? '' : ' (the deployment’s)'} does not exist`);
  return { subnetId, block };
}

/** The asked groups, each one of the deployment's (the only ones IAM lets a failback host launch with), else all of them. */
function resolveGroups(
  field: string,
  asked: readonly string[] | undefined,
  launch: FailbackLaunchSettings,
): readonly string[] | undefined {
  const outside = asked?.find((group) => !(launch.securityGroupIds?.includes(group) ?? true));
  if (outside !== undefined) {
    throw fieldError(
      field,
      `${outside} is not one of the deployment's failback security groups (homebound:securityGroupIds: ${launch.securityGroupIds?.join(', ')})`,
    );
  }
  return asked ?? launch.securityGroupIds;
}

/** The asked tags (never the takeover tag, only keys IAM allows), else those copied from the takeover host. */
function resolveTags(
  field: string,
  asked: Readonly<Record<string, string>> | undefined,
  host: Host,
  context: ResolveContext,
): Record<string, string> {
  const allowed = context.launch.allowedTagKeys;
  if (asked === undefined) return copiedTags(host, context.takeoverTag, allowed);
  if (Object.hasOwn(asked, context.takeoverTag.key)) {
    throw fieldError(`${field}.${context.takeoverTag.key}`, 'is the takeover tag; a failback host must not carry it');
  }
  const outside = Object.keys(asked).find((key) => !(allowed?.includes(key) ?? true));
  if (outside !== undefined) {
    throw fieldError(
      `${field}.${outside}`,
      `the deployment lets failback hosts carry only the tag keys ${allowed?.join(', ') || '(none)'} besides homebound's (homebound:failbackTagKeys)`,
    );
  }
  return { ...asked };
}

/**
 * The failback host's address: none (`auto`: the subnet assigns one), the one asked, or the takeover host's after the
 * remap (`keep`, and the default when that address is usable in the subnet).
 */
function resolveAddress(
  field: string,
  asked: AwsFailbackSettings['privateIp'],
  host: Host,
  subnetId: string | undefined,
  block: Cidr | undefined,
  remap: readonly NetworkRemap[],
): string | undefined {
  if (asked === 'auto') return undefined;
  if (asked !== undefined && asked !== 'keep') {
    if (!block) throw fieldError(field, `an address needs a subnet, and neither the host nor the deployment sets one`);
    if (!isUsableInSubnet(block, parseIpv4(asked) ?? -1)) {
      throw fieldError(field, `${asked} is not a usable address of subnet ${subnetId} (${describe(block)})`);
    }
    return asked;
  }
  const taken = host.privateIp;
  if (taken === undefined || !block) {
    if (asked === 'keep') {
      throw fieldError(
        field,
        taken === undefined
          ? `keep: takeover host ${host.hostId} has no private address`
          : `keep: an address needs a subnet, and neither the host nor the deployment sets one`,
      );
    }
    return undefined;
  }
  const kept = remapAddress(taken, remap);
  if (isUsableInSubnet(block, parseIpv4(kept.address) ?? -1)) return kept.address;
  if (asked === undefined) return undefined;
  throw fieldError(
    field,
    kept.remapped
      ? `keep: ${taken} remaps to ${kept.address}, which is not a usable address of subnet ${subnetId} (${describe(block)})`
      : `keep: ${taken} is outside subnet ${subnetId} (${describe(block)}) and in no network.remap "from" block`,
  );
}

function describe(block: Cidr): string {
  return `${formatIpv4(block.base)}/${block.prefixLength}`;
}

/**
 * The vSphere settings of every host: what the request asks, handed to the agent as is (its own config and the
 * takeover host's instance type fill in the rest, core/failback/steps/plan-on-prem-run.ts).
 */
export function resolveVsphereHosts(
  entries: readonly HostEntry<VsphereFailbackSettings>[],
  options: { powerOffSeed: boolean } = { powerOffSeed: false },
): VsphereHostSettings[] {
  const names = new Map<string, number>();
  const seeds = new Map<string, number>();
  return entries.map((entry, i) => {
    const { seed, ...settings } = entry.failback ?? {};
    if (seed !== undefined) {
      const other = seeds.get(seed.vm);
      if (other !== undefined)
        throw fieldError(`hosts[${i}].failback.seed.vm`, `${seed.vm} is also hosts[${other}]'s seed`);
      seeds.set(seed.vm, i);
    }
    const vmName = settings.vmName;
    if (vmName !== undefined) {
      const other = names.get(vmName);
      if (other !== undefined)
        throw fieldError(`hosts[${i}].failback.vmName`, `${vmName} is also hosts[${other}]'s VM`);
      names.set(vmName, i);
    }
    return {
      platform: 'vsphere',
      ...settings,
      ...(seed === undefined ? {} : { seed: { vm: seed.vm, powerOff: options.powerOffSeed } }),
    };
  });
}
