import { AddressUnavailableError, SubnetNotFoundError } from './errors.js';
import { firstFreeAddress, formatIpv4, isUsableInSubnet, parseCidr, parseIpv4 } from './ipv4.js';
import type { ComputeState } from './local-state.js';

/** Where a local host sits on the network: nothing, or a subnet and its address there. */
export type LocalPlacement = { readonly subnetId: string; readonly privateIp: string } | Record<string, never>;

/**
 * The subnet and address a launch gets on the local cloud, enforced as EC2 does: the subnet must exist, an asked-for
 * address must be usable in its block (not one of the five reserved) and held by no other host that is not terminated;
 * without one, the first free address. A launch naming no subnet gets no network (gateways and hosts of older tests).
 * @throws SubnetNotFoundError, AddressUnavailableError
 */
export function placeHost(
  state: ComputeState,
  request: { readonly subnetId?: string | undefined; readonly privateIp?: string | undefined },
): LocalPlacement {
  if (request.subnetId === undefined) {
    if (request.privateIp !== undefined) {
      throw new AddressUnavailableError(request.privateIp, '(none)', 'an address needs a subnet');
    }
    return {};
  }
  const subnet = state.subnets[request.subnetId];
  const block = subnet ? parseCidr(subnet.cidr) : undefined;
  if (!subnet || !block) throw new SubnetNotFoundError(request.subnetId);
  const taken = new Set(
    Object.values(state.hosts)
      .filter((host) => host.subnetId === subnet.subnetId && host.state !== 'terminated')
      .flatMap((host) => (host.privateIp === undefined ? [] : [parseIpv4(host.privateIp) ?? -1])),
  );
  if (request.privateIp === undefined) {
    const free = firstFreeAddress(block, taken);
    if (free === undefined) throw new AddressUnavailableError('(any)', subnet.subnetId, `${subnet.cidr} is full`);
    return { subnetId: subnet.subnetId, privateIp: formatIpv4(free) };
  }
  const address = parseIpv4(request.privateIp);
  if (address === undefined || !isUsableInSubnet(block, address)) {
    throw new AddressUnavailableError(request.privateIp, subnet.subnetId, `not a usable address of ${subnet.cidr}`);
  }
  if (taken.has(address))
    throw new AddressUnavailableError(request.privateIp, subnet.subnetId, 'in use by another host');
  return { subnetId: subnet.subnetId, privateIp: request.privateIp };
}
