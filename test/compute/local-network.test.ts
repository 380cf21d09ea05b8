import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AddressUnavailableError, SubnetNotFoundError, UnknownInstanceTypeError } from '../../core/compute/errors.js';
import { type ComputeFixture, computeFixture, hostState, waitUntil } from './local-compute-helpers.js';

let fixture: ComputeFixture;
let subnetId: string;
beforeEach(async () => {
  fixture = await computeFixture();
  subnetId = (await fixture.compute.createSubnet('10.1.0.0/28')).subnetId;
});
afterEach(async () => {
  await fixture.cleanup();
});

const launch = (extra: Record<string, unknown>) =>
  fixture.compute.runInstance({ role: 'failback', name: 'web-failback', ...extra });

describe('LocalCompute networks, as EC2 enforces them', () => {
  it('launches a host with its type, subnet, address and groups, and describes them', async () => {
    const hostId = await launch({
      instanceType: 'c5.large',
      subnetId,
      privateIp: '10.1.0.9',
      securityGroupIds: ['sg-0a'],
    });
    const [host] = await fixture.compute.describeHosts({ hostIds: [hostId] });
    expect(host).toMatchObject({
      instanceType: 'c5.large',
      subnetId,
      privateIp: '10.1.0.9',
      securityGroupIds: ['sg-0a'],
    });
    expect(await fixture.compute.describeSubnets([subnetId])).toEqual([{ subnetId, cidr: '10.1.0.0/28' }]);
  });

  it('assigns the first free address past the four EC2 reserves when none is asked', async () => {
    const first = await launch({ subnetId });
    const second = await launch({ subnetId });
    const hosts = await fixture.compute.describeHosts({ hostIds: [first, second] });
    expect(hosts.map((host) => host.privateIp).sort()).toEqual(['10.1.0.4', '10.1.0.5']);
  });

  it('refuses an address outside the subnet, a reserved one, a taken one, an unknown subnet or type', async () => {
    await launch({ subnetId, privateIp: '10.1.0.9' });
    await expect(launch({ subnetId, privateIp: '10.1.0.16' })).rejects.toThrow(AddressUnavailableError);
    await expect(launch({ subnetId, privateIp: '10.1.0.15' })).rejects.toThrow(/not a usable address of 10.1.0.0\/28/);
    await expect(launch({ subnetId, privateIp: '10.1.0.9' })).rejects.toThrow(/in use by another host/);
    await expect(launch({ subnetId: 'subnet-0ff' })).rejects.toThrow(SubnetNotFoundError);
    await expect(launch({ instanceType: 'z9.huge' })).rejects.toThrow(UnknownInstanceTypeError);
    await expect(fixture.compute.describeSubnets(['subnet-0ff'])).rejects.toThrow(SubnetNotFoundError);
  });

  it('frees a terminated host’s address', async () => {
    const hostId = await launch({ subnetId, privateIp: '10.1.0.9' });
    await fixture.compute.terminateInstances([hostId]);
    await waitUntil(async () => (await hostState(fixture.compute, hostId)) === 'terminated');
    await expect(launch({ subnetId, privateIp: '10.1.0.9' })).resolves.toMatch(/^i-/);
  });
});
