import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { type OnPremSite, startOnPremSite } from '../../core/localcloud/onprem-site.js';
import { VCSIM_START_TIMEOUT_MS } from '../../core/localcloud/vcsim.js';
import { failbackVmName } from '../../core/onprem/vsphere-platform.js';
import type { JsonObject } from '../../core/orchestration/json.js';
import { VsphereClient } from '../../core/vsphere/client.js';
import { findVm } from '../../core/vsphere/inventory.js';
import { readVm } from '../../core/vsphere/vm.js';
import { startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { scheduleOperation } from './helpers.js';

const DB = { hostId: 'i-0wavedb', name: 'db', instanceType: 't3.small', vCpus: 1, memoryMiB: 2048 };
const APP = { hostId: 'i-0waveapp', name: 'app', instanceType: 't3.small', vCpus: 1, memoryMiB: 2048 };
const SIZE = 4 * BLOCK_SIZE;
const VOLUMES = [
  { hostId: DB.hostId, volumeId: 'vol-0wavedb', volumeKey: 'wave-db', sizeBytes: SIZE },
  { hostId: APP.hostId, volumeId: 'vol-0waveapp', volumeKey: 'wave-app', sizeBytes: SIZE },
];

/** A TCP port on loopback that accepts connections (the "service" a tcp check finds on the guest IP). */
async function listen(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port };
}

describe('the agent cuts over wave by wave and checks a wave’s health on-prem (vsphere, vcsim)', () => {
  let test: TestCloud;
  let site: OnPremSite;
  let client: VsphereClient;
  let service: { server: Server; port: number };

  beforeAll(async () => {
    test = await startTestCloud({ pollWaitMs: 2_000 });
    site = await startOnPremSite({
      dir: await mkdtemp(join(test.dir, 'site-')),
      platform: 'vsphere',
      cloud: test.cloud,
      pollMs: 50,
    });
    const env = site.env();
    client = await VsphereClient.connect(
      { url: env.HOMEBOUND_VSPHERE_URL ?? '' },
      { username: env.HOMEBOUND_VSPHERE_USER ?? '', password: env.HOMEBOUND_VSPHERE_PASSWORD ?? '' },
    );
    await site.startAgent();
    service = await listen();
  }, VCSIM_START_TIMEOUT_MS);
  afterAll(async () => {
    service?.server.close();
    await client?.logout();
    await site?.stop();
    await test?.stop();
  });

  const run = (operation: string, fields: JsonObject) =>
    scheduleOperation(test.cloud.activities, site.config.activityArn, { operation, ...fields });
  const failure = (operation: string, fields: JsonObject) => run(operation, fields).catch((error: unknown) => error);
  const powerOf = async (host: typeof DB) =>
    (await readVm(client, await findVm(client, 'DC0', failbackVmName(host)))).powerState;
  /** What VMware Tools would report as the guest's IP; vcsim takes it through extraConfig (no guest runs there). */
  const setGuestIp = async (host: typeof DB, ip: string) =>
    client.runTask(
      'ReconfigVM_Task',
      await findVm(client, 'DC0', failbackVmName(host)),
      `<spec><extraConfig xsi:type="OptionValue"><key>SET.guest.ipAddress</key><value xsi:type="xsd:string">${ip}</value></extraConfig></spec>`,
    );
  const healthOf = (hostIds: string[], hosts: JsonObject[], since: string, timeoutSeconds = 600) =>
    run('CheckWaveHealth', { runId: 'run-w', hostIds, hosts, since, timeoutSeconds });

  it('VerificationBoot and Cutover with a wave’s hostIds act on that wave’s VMs only; the next wave’s Cutover is accepted after the first ended the following', async () => {
    await run('PrepareTarget', { runId: 'run-w', hosts: [DB, APP], volumes: VOLUMES });
    const before = await healthOf([DB.hostId], [], new Date().toISOString());
    expect(before).toMatchObject({
      allHealthy: false,
      pending: true,
      hosts: [{ hostId: DB.hostId, healthy: false, state: 'poweredOff', checks: [{ name: 'state', passed: false }] }],
    });

    const boot = await run('VerificationBoot', { runId: 'run-w', hostIds: [APP.hostId] });
    expect(boot).toMatchObject({
      hostIds: [APP.hostId],
      hosts: [{ name: failbackVmName(APP), up: true, powerState: 'poweredOff' }],
    });
    expect(boot).toHaveProperty('hosts.length', 1);

    const first = await run('Cutover', { runId: 'run-w', hostIds: [DB.hostId] });
    expect(first).toMatchObject({
      confirmation: 'automatic',
      hostIds: [DB.hostId],
      hosts: [{ powerState: 'poweredOn' }],
    });
    expect(first).toMatchObject({ startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect([await powerOf(DB), await powerOf(APP)]).toEqual(['poweredOn', 'poweredOff']);

    const second = await run('Cutover', { runId: 'run-w', hostIds: [APP.hostId] });
    expect(second).toMatchObject({ hostIds: [APP.hostId], hosts: [{ powerState: 'poweredOn' }] });
    expect([await powerOf(DB), await powerOf(APP)]).toEqual(['poweredOn', 'poweredOn']);
  }, 120_000);

  it('CheckWaveHealth runs the hosts’ tcp checks against the guest IP the VM reports; a host without one fails them', async () => {
    const checks = (port: number) => [{ hostId: DB.hostId, healthChecks: [{ type: 'tcp', port, timeoutSeconds: 2 }] }];
    const noAddress = await healthOf([DB.hostId], checks(service.port), new Date().toISOString());
    expect(noAddress).toMatchObject({
      allHealthy: false,
      hosts: [
        {
          checks: [
            { name: 'state', passed: true },
            { passed: false, detail: expect.stringContaining('no address') },
          ],
        },
      ],
    });

    await setGuestIp(DB, '127.0.0.1');
    const healthy = await healthOf([DB.hostId], checks(service.port), new Date().toISOString());
    expect(healthy).toMatchObject({
      allHealthy: true,
      pending: false,
      hosts: [
        {
          hostId: DB.hostId,
          healthy: true,
          checks: [
            { name: 'state', passed: true },
            { name: `tcp:${service.port}`, passed: true },
          ],
        },
      ],
    });
  }, 60_000);

  it('past the deadline an unhealthy wave fails with HealthCheckFailedError naming the host and check', async () => {
    const closed = await listen();
    closed.server.close();
    const hosts = [{ hostId: DB.hostId, healthChecks: [{ type: 'tcp', port: closed.port, timeoutSeconds: 2 }] }];
    // Within the deadline the round answers pending; once it passed, the same round fails the operation.
    expect(await healthOf([DB.hostId], hosts, new Date().toISOString())).toMatchObject({ pending: true });
    const error = await failure('CheckWaveHealth', {
      runId: 'run-w',
      hostIds: [DB.hostId],
      hosts,
      since: new Date(Date.now() - 10_000).toISOString(),
      timeoutSeconds: 1,
    });
    expect(error).toMatchObject({
      name: 'HealthCheckFailedError',
      cause: expect.stringContaining(`${DB.hostId} tcp:${closed.port}`),
    });
  }, 60_000);

  it('refuses a hostId of no host of the run, naming the field; after Rollback a Cutover is refused (RunEndedError)', async () => {
    const stranger = await failure('Cutover', { runId: 'run-w', hostIds: [DB.hostId, 'i-0nobody'] });
    expect(stranger).toMatchObject({
      name: 'InvalidInputError',
      cause: expect.stringContaining('hostIds.1: i-0nobody'),
    });

    await run('Rollback', { runId: 'run-w' });
    expect([await powerOf(DB), await powerOf(APP)]).toEqual(['poweredOff', 'poweredOff']);
    const late = await failure('Cutover', { runId: 'run-w', hostIds: [APP.hostId] });
    expect(late).toMatchObject({ name: 'RunEndedError' });
    expect(await powerOf(APP)).toBe('poweredOff');
  }, 60_000);
});
