import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidFailbackRequestError } from '../../core/failback/errors.js';
import { parseFailbackRequest } from '../../core/failback/request.js';
import { remapAddress } from '../../core/failback/resolve-hosts.js';
import type { FailbackDeps, FailbackLaunchSettings, TakeoverHost } from '../../core/failback/run-state.js';
import { validateRequest } from '../../core/failback/steps/validate-request.js';
import { LOCAL_TAKEOVER_TAG } from '../../core/failback/takeover-tag.js';
import { type ComputeFixture, computeFixture, MiB } from '../compute/local-compute-helpers.js';
import { stepDeps } from '../support/step-deps.js';

const A = 'i-0123456789abcdef0';
const B = 'i-0fedcba9876543210';
const automated = (hosts: unknown[], extra: Record<string, unknown> = {}) => ({
  method: 'automated',
  hosts,
  target: { platform: 'aws', region: 'eu-west-1' },
  ...extra,
});

/** The message of the InvalidFailbackRequestError `act` throws (sync or async). */
async function refusal(act: () => unknown): Promise<string> {
  try {
    await act();
  } catch (error) {
    if (error instanceof InvalidFailbackRequestError) return error.message;
    throw error;
  }
  throw new Error('expected the request to be refused');
}

describe('the request’s host entries and network remap (schema)', () => {
  it('takes bare ids and objects side by side, a wave defaulting to 1', () => {
    const parsed = parseFailbackRequest(
      automated([A, { id: B, wave: 2, failback: { instanceType: 'c5.large', privateIp: 'keep' } }]),
    );
    expect(parsed.hosts).toEqual([A, { id: B, wave: 2, failback: { instanceType: 'c5.large', privateIp: 'keep' } }]);
  });

  it.each([
    ['a host listed twice', automated([A, B, { id: A }]), 'hosts[2].id: i-0123456789abcdef0 is listed twice'],
    ['a wave with a gap', automated([A, { id: B, wave: 3 }]), 'hosts[1].wave: wave 3 has no wave 2 before it'],
    ['a wave 0', automated([{ id: A, wave: 0 }]), 'hosts[0].wave'],
    [
      'an entry neither id nor object',
      automated([A, null]),
      'hosts[1]: expected a takeover host id or { id, wave?, failback?, healthChecks? }',
    ],
    [
      'a malformed address',
      automated([A, { id: B, failback: { privateIp: '10.0.0.300' } }]),
      'hosts[1].failback.privateIp',
    ],
    ['a malformed subnet id', automated([{ id: A, failback: { subnetId: 'home' } }]), 'hosts[0].failback.subnetId'],
    [
      'a malformed group',
      automated([{ id: A, failback: { securityGroupIds: ['web'] } }]),
      'hosts[0].failback.securityGroupIds[0]',
    ],
    [
      'a homebound tag',
      automated([{ id: A, failback: { tags: { 'homebound:state': 'live' } } }]),
      'hosts[0].failback.tags.homebound:state',
    ],
    ['an unknown setting', automated([{ id: A, failback: { vmName: 'x' } }]), 'hosts[0].failback'],
    [
      'a malformed CIDR',
      automated([A], { network: { remap: [{ from: '10.0.0.1/24', to: '192.168.0.0/24' }] } }),
      'network.remap[0].from: not a CIDR block',
    ],
    [
      'remap blocks of different sizes',
      automated([A], { network: { remap: [{ from: '10.0.0.0/24', to: '192.168.0.0/16' }] } }),
      'network.remap[0].to: from and to must have the same prefix length',
    ],
    [
      'overlapping remaps',
      automated([A], {
        network: {
          remap: [
            { from: '10.0.0.0/16', to: '192.168.0.0/16' },
            { from: '10.0.4.0/24', to: '172.16.0.0/24' },
          ],
        },
      }),
      'network.remap[1].from: 10.0.4.0/24 overlaps remap[0].from 10.0.0.0/16',
    ],
    [
      'two remaps onto one block',
      automated([A], {
        network: {
          remap: [
            { from: '10.0.0.0/24', to: '192.168.0.0/24' },
            { from: '10.1.0.0/24', to: '192.168.0.0/24' },
          ],
        },
      }),
      'network.remap[1].to',
    ],
    [
      'AWS settings on a vSphere target',
      {
        method: 'conditional-automated',
        hosts: [{ id: A, failback: { subnetId: 'subnet-0a' } }],
        target: { platform: 'vsphere' },
      },
      'hosts[0].failback',
    ],
    [
      'a health check on a port out of range',
      automated([A, { id: B, healthChecks: [{ type: 'tcp', port: 70000 }] }]),
      'hosts[1].healthChecks[0].port',
    ],
    [
      'two health checks of one name',
      automated([
        {
          id: A,
          healthChecks: [
            { type: 'tcp', port: 5432 },
            { type: 'tcp', port: 5432 },
          ],
        },
      ]),
      'hosts[0].healthChecks[1].name: two checks are named "tcp:5432"',
    ],
    [
      'an SSM check on a vSphere target',
      {
        method: 'conditional-automated',
        hosts: [{ id: A, healthChecks: [{ type: 'ssm', parameters: { commands: ['true'] } }] }],
        target: { platform: 'vsphere' },
      },
      'hosts[0].healthChecks: ssm checks need an EC2 failback host',
    ],
    ['a health timeout of 0', automated([A], { cutover: { healthTimeoutSeconds: 0 } }), 'cutover.healthTimeoutSeconds'],
  ])('refuses %s, naming the field', async (_, request, field) => {
    expect(await refusal(() => parseFailbackRequest(request))).toContain(`failback request field ${field}`);
  });

  it('takes health checks per host, defaults filled in, and a cutover health timeout defaulting to 600 s', () => {
    const parsed = parseFailbackRequest(
      automated([
        A,
        {
          id: B,
          wave: 2,
          healthChecks: [
            { type: 'http', path: '/health' },
            { type: 'tcp', port: 5432 },
          ],
        },
      ]),
    );
    expect(parsed.hosts[1]).toEqual({
      id: B,
      wave: 2,
      healthChecks: [
        { type: 'http', scheme: 'http', path: '/health', expectStatus: 200, timeoutSeconds: 10, insecureTls: false },
        { type: 'tcp', port: 5432, timeoutSeconds: 5 },
      ],
    });
    expect(parsed.cutover).toEqual({ healthTimeoutSeconds: 600 });
  });

  it('takes vSphere settings on the conditional-automated method', () => {
    const failback = { vmName: 'db-1', numCPUs: 4, memoryMiB: 8192, datastore: 'LocalDS_0', portGroup: 'VM Network' };
    const parsed = parseFailbackRequest({
      method: 'conditional-automated',
      hosts: [{ id: A, failback }],
      target: { platform: 'vsphere' },
    });
    expect(parsed.hosts).toEqual([{ id: A, failback }]);
  });
});

describe('remapAddress', () => {
  const remap = [
    { from: '10.8.0.0/16', to: '192.168.0.0/16' },
    { from: '172.31.5.0/24', to: '10.200.9.0/24' },
  ];
  it('moves an address to the same offset in the `to` block of the row holding it, and leaves others', () => {
    expect(remapAddress('10.8.3.25', remap)).toEqual({ address: '192.168.3.25', remapped: true });
    expect(remapAddress('172.31.5.254', remap)).toEqual({ address: '10.200.9.254', remapped: true });
    expect(remapAddress('172.31.6.1', remap)).toEqual({ address: '172.31.6.1', remapped: false });
  });
});

describe('ValidateRequest resolves each failback host’s settings', () => {
  let fixture: ComputeFixture;
  let home: string;
  let other: string;
  let dr: string;
  beforeEach(async () => {
    fixture = await computeFixture();
    home = (await fixture.compute.createSubnet('192.168.5.0/24')).subnetId;
    other = (await fixture.compute.createSubnet('192.168.6.0/24')).subnetId;
    dr = (await fixture.compute.createSubnet('10.8.0.0/24')).subnetId;
  });
  afterEach(async () => {
    await fixture.cleanup();
  });

  async function takeover(name: string, privateIp: string, instanceType = 't3.small') {
    const host = await fixture.compute.createTakeoverHost({
      name,
      volumes: [{ sizeBytes: MiB }],
      writesPerSecond: 0,
      instanceType,
      subnetId: dr,
      privateIp,
      tags: {
        [LOCAL_TAKEOVER_TAG.key]: LOCAL_TAKEOVER_TAG.value,
        app: 'billing',
        'aws:cloudformation:stack-name': 's',
      },
    });
    return host.hostId;
  }

  function deps(launch: FailbackLaunchSettings = { subnetId: home }): FailbackDeps {
    return stepDeps(fixture.compute, { failbackLaunch: launch });
  }

  async function hostsOf(request: unknown, launch?: FailbackLaunchSettings): Promise<TakeoverHost[]> {
    return (await validateRequest({ runId: 'r1', request }, deps(launch))).hosts;
  }

  const remapDrHome = { network: { remap: [{ from: '10.8.0.0/24', to: '192.168.5.0/24' }] } };

  it('defaults to the takeover host’s type and tags (not aws:*, homebound:*, Name) and the deployment’s subnet', async () => {
    const a = await takeover('db', '10.8.0.25');
    const [host] = await hostsOf(automated([a]));
    expect(host).toEqual({
      hostId: a,
      name: 'db',
      wave: 1,
      failback: { platform: 'aws', instanceType: 't3.small', subnetId: home, tags: { app: 'billing' } },
    });
  });

  it('keeps the takeover host’s address after the remap, by default and with keep', async () => {
    const a = await takeover('db', '10.8.0.25');
    const b = await takeover('app', '10.8.0.26');
    const hosts = await hostsOf(automated([a, { id: b, wave: 2, failback: { privateIp: 'keep' } }], remapDrHome));
    expect(hosts.map((host) => [host.wave, host.failback?.platform === 'aws' && host.failback.privateIp])).toEqual([
      [1, '192.168.5.25'],
      [2, '192.168.5.26'],
    ]);
  });

  it('applies what the request asks over every default', async () => {
    const a = await takeover('db', '10.8.0.25');
    const failback = {
      instanceType: 'c5.xlarge',
      subnetId: other,
      securityGroupIds: ['sg-0abc'],
      privateIp: '192.168.6.40',
      tags: { team: 'payments' },
    };
    const [host] = await hostsOf(automated([{ id: a, failback }]), {
      subnetId: home,
      securityGroupIds: ['sg-0abc', 'sg-0def'],
    });
    expect(host?.failback).toEqual({ platform: 'aws', ...failback });
  });

  it('falls back to auto when the kept address does not fit the subnet and keep was not asked', async () => {
    const a = await takeover('db', '10.8.0.25');
    const [host] = await hostsOf(automated([a]));
    expect(host?.failback).not.toHaveProperty('privateIp');
  });

  it.each([
    [
      'keep with no remap from the takeover subnet',
      () => ({ privateIp: 'keep' }),
      {},
      'hosts[0].failback.privateIp: keep: 10.8.0.25 is outside subnet',
    ],
    [
      'keep remapped outside the subnet',
      () => ({ privateIp: 'keep' }),
      { network: { remap: [{ from: '10.8.0.0/24', to: '192.168.9.0/24' }] } },
      'hosts[0].failback.privateIp: keep: 10.8.0.25 remaps to 192.168.9.25',
    ],
    [
      'an address outside its subnet',
      () => ({ privateIp: '192.168.6.9' }),
      {},
      'hosts[0].failback.privateIp: 192.168.6.9 is not a usable address',
    ],
    ['an address EC2 reserves', () => ({ privateIp: '192.168.5.255' }), {}, 'hosts[0].failback.privateIp'],
    [
      'an unknown instance type',
      () => ({ instanceType: 'z9.huge' }),
      {},
      'hosts[0].failback.instanceType: instance type z9.huge is not known',
    ],
    [
      'an unknown subnet',
      () => ({ subnetId: 'subnet-0000000000' }),
      {},
      'hosts[0].failback.subnetId: subnet subnet-0000000000 does not exist',
    ],
  ])('refuses %s, naming the field', async (_, failback, extra, message) => {
    const a = await takeover('db', '10.8.0.25');
    expect(await refusal(() => hostsOf(automated([{ id: a, failback: failback() }], extra)))).toContain(message);
  });

  it('refuses an address another instance of the subnet holds (an earlier run’s failback host), naming the field', async () => {
    const a = await takeover('db', '10.8.0.25');
    const holder = await fixture.compute.runInstance({
      role: 'failback',
      name: 'db-failback',
      subnetId: home,
      privateIp: '192.168.5.25',
      tags: { 'homebound:run': 'earlier' },
    });
    expect(
      await refusal(() => hostsOf(automated([{ id: a, failback: { privateIp: 'keep' } }], remapDrHome))),
    ).toContain(
      `hosts[0].failback.privateIp: 192.168.5.25 is held by ${holder} (running, a running failback host of run earlier)`,
    );
  });

  it('refuses two hosts on one address, naming the second', async () => {
    const a = await takeover('db', '10.8.0.25');
    const b = await takeover('app', '10.8.0.26');
    const request = automated([a, { id: b, failback: { privateIp: '192.168.5.25' } }], remapDrHome);
    expect(await refusal(() => hostsOf(request))).toContain(
      "hosts[1].failback.privateIp: 192.168.5.25 is also hosts[0]'s address",
    );
  });

  it('keeps the deployment’s type for a takeover host whose own it does not allow, and refuses settings outside its sets', async () => {
    const a = await takeover('db', '10.8.0.25', 'r5.large');
    const launch = {
      instanceType: 'm5.large',
      subnetId: home,
      securityGroupIds: ['sg-0abc'],
      allowedInstanceTypes: ['m5.large', 't3.small'],
      allowedSubnetIds: [home],
      allowedTagKeys: ['app'],
    };
    const [host] = await hostsOf(automated([a]), launch);
    expect(host?.failback).toMatchObject({ instanceType: 'm5.large', tags: { app: 'billing' } });
    const asks = (failback: Record<string, unknown>) =>
      refusal(() => hostsOf(automated([{ id: a, failback: { instanceType: 'm5.large', ...failback } }]), launch));
    expect(await asks({ subnetId: other })).toContain('hosts[0].failback.subnetId');
    expect(await asks({ securityGroupIds: ['sg-0def'] })).toContain('hosts[0].failback.securityGroupIds: sg-0def');
    expect(await asks({ instanceType: 'c5.large' })).toContain(
      'hosts[0].failback.instanceType: c5.large is not one the deployment lets failback hosts launch as',
    );
    expect(await asks({ tags: { owner: 'x' } })).toContain('hosts[0].failback.tags.owner');
  });

  it('passes vSphere settings through and refuses two hosts on one VM name', async () => {
    const a = await takeover('db', '10.8.0.25');
    const b = await takeover('app', '10.8.0.26');
    const request = (vmB: string) => ({
      method: 'conditional-automated',
      hosts: [
        { id: a, failback: { vmName: 'db-home', numCPUs: 4 } },
        { id: b, wave: 2, failback: { vmName: vmB } },
      ],
      target: { platform: 'vsphere' },
    });
    const hosts = await hostsOf(request('app-home'));
    expect(hosts.map((host) => [host.wave, host.failback])).toEqual([
      [1, { platform: 'vsphere', vmName: 'db-home', numCPUs: 4 }],
      [2, { platform: 'vsphere', vmName: 'app-home' }],
    ]);
    expect(await refusal(() => hostsOf(request('db-home')))).toContain(
      "hosts[1].failback.vmName: db-home is also hosts[0]'s VM",
    );
  });
});
