import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import { createPlatform } from '../../core/agent/platforms.js';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { imageSha256 } from '../../core/image-digest.js';
import { startAgentProcess } from '../../core/localcloud/agent-process.js';
import { localS3ClientConfig } from '../../core/localcloud/index.js';
import { type OnPremSite, startOnPremSite } from '../../core/localcloud/onprem-site.js';
import { VCSIM_START_TIMEOUT_MS } from '../../core/localcloud/vcsim.js';
import { failbackVmName, runMarker } from '../../core/onprem/vsphere-platform.js';
import type { JsonObject } from '../../core/orchestration/json.js';
import { VsphereClient } from '../../core/vsphere/client.js';
import { findVm } from '../../core/vsphere/inventory.js';
import { powerOff, powerOn, readVm } from '../../core/vsphere/vm.js';
import { stagePass, waitForAck } from '../gateway/helpers.js';
import { startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume, writeBlock } from '../support/volumes.js';
import { scheduleOperation } from './helpers.js';

const DB = { hostId: 'i-0db', name: 'db', instanceType: 'm5.large', vCpus: 2, memoryMiB: 8192 };
// The request named this one's VM and asked the configured datastore (hosts[].failback.vmName, .datastore).
const WEB = {
  hostId: 'i-0web',
  name: 'web/1',
  instanceType: 't3.small',
  vCpus: 1,
  memoryMiB: 2048,
  vmName: 'web-home',
  placement: { datastore: 'LocalDS_0', portGroup: 'VM Network' },
};
const SIZE = 8 * BLOCK_SIZE;
// The data volume is listed first: the boot volume must still be the VM's first disk (deviceIndex 0).
const VOLUMES = [
  { hostId: DB.hostId, volumeId: 'vol-0dbdata', volumeKey: 'db-data', deviceIndex: 1, sizeBytes: SIZE },
  { hostId: DB.hostId, volumeId: 'vol-0dbroot', volumeKey: 'db-root', deviceIndex: 0, sizeBytes: SIZE },
  { hostId: WEB.hostId, volumeId: 'vol-0webroot', volumeKey: 'web-root', deviceIndex: 0, sizeBytes: SIZE },
];

describe('the agent with the vsphere platform (vcsim, agent process, local activity API)', () => {
  let test: TestCloud;
  let site: OnPremSite;
  let client: VsphereClient;
  let datastoreDir: string;
  const sources: Record<string, string> = {};
  const outputs: string[] = [];

  beforeAll(async () => {
    test = await startTestCloud({ pollWaitMs: 2_000 });
    site = await startOnPremSite({
      dir: await mkdtemp(join(test.dir, 'site-')),
      platform: 'vsphere',
      cloud: test.cloud,
      pollMs: 50,
    });
    const env = site.env();
    datastoreDir = env.HOMEBOUND_DATASTORE_DIR ?? '';
    client = await VsphereClient.connect(
      { url: env.HOMEBOUND_VSPHERE_URL ?? '' },
      { username: env.HOMEBOUND_VSPHERE_USER ?? '', password: env.HOMEBOUND_VSPHERE_PASSWORD ?? '' },
    );
    await site.startAgent();
  }, VCSIM_START_TIMEOUT_MS);
  afterAll(async () => {
    await client?.logout();
    await site?.stop();
    await test?.stop();
  });

  const run = async (operation: string, fields: JsonObject) => {
    const result = await scheduleOperation(test.cloud.activities, site.config.activityArn, { operation, ...fields });
    outputs.push(JSON.stringify(result));
    return result;
  };
  const failure = (operation: string, fields: JsonObject) =>
    run(operation, fields).catch((error: unknown) => {
      outputs.push(JSON.stringify(error));
      return error;
    });
  const vsphereConfig = () => {
    const { platform } = site.config;
    if (platform.type !== 'vsphere') throw new Error('the site is not vsphere');
    return platform;
  };
  const vmOf = (host: typeof DB) => findVm(client, 'DC0', failbackVmName(host));
  const flat = (volumeId: string) => join(datastoreDir, 'homebound-disks', `${volumeId}-flat.vmdk`);

  async function stageAndApply(runId: string, passNumber: number) {
    const s3 = new S3Client(localS3ClientConfig(site.store));
    const staging = new S3Staging(s3, { bucket: site.store.bucket, prefix: `runs/${runId}/volumes/` });
    const records = new S3Staging(s3, { bucket: site.store.bucket, prefix: `runs/${runId}/agent/volumes/` });
    for (const volume of VOLUMES) {
      await stagePass({ store: test.cloud.store, source: test.source, staging }, sources[volume.volumeKey] ?? '', {
        volumeKey: volume.volumeKey,
        passNumber,
        sizeBytes: SIZE,
      });
    }
    for (const volume of VOLUMES) await waitForAck(records, volume.volumeKey, passNumber);
    s3.destroy();
  }

  it('PrepareTarget makes a disk per volume and a VM per host (its vCPUs and memory, boot disk first), powered off; a staged pass lands byte for byte in the -flat.vmdk', async () => {
    for (const volume of VOLUMES) {
      sources[volume.volumeKey] = join(site.dir, `${volume.volumeKey}.src.img`);
      await makeVolume(sources[volume.volumeKey] ?? '', SIZE, { 0: 'random', 3: 'random', 7: 0x5a });
    }
    const prepared = await run('PrepareTarget', { runId: 'run-a', hosts: [DB, WEB], volumes: VOLUMES });

    expect(prepared).toMatchObject({
      platform: 'vsphere',
      following: true,
      disks: VOLUMES.map((volume) => ({
        volumeId: volume.volumeId,
        path: flat(volume.volumeId),
        location: `[LocalDS_0] homebound-disks/${volume.volumeId}.vmdk`,
        created: true,
        sizeBytes: SIZE,
      })),
      hosts: [
        { hostId: DB.hostId, name: 'homebound-db-i-0db', powerState: 'poweredOff' },
        { hostId: WEB.hostId, name: 'web-home', powerState: 'poweredOff' },
      ],
    });
    const db = await readVm(client, await vmOf(DB));
    const web = await readVm(client, await vmOf(WEB));
    expect([db.numCpu, db.memoryMiB, web.numCpu, web.memoryMiB]).toEqual([2, 8192, 1, 2048]);
    expect(db.disks.map((disk) => disk.fileName)).toEqual([
      '[LocalDS_0] homebound-disks/vol-0dbroot.vmdk',
      '[LocalDS_0] homebound-disks/vol-0dbdata.vmdk',
    ]);
    expect(web.disks.map((disk) => disk.fileName)).toEqual(['[LocalDS_0] homebound-disks/vol-0webroot.vmdk']);
    expect([db.powerState, web.powerState]).toEqual(['poweredOff', 'poweredOff']);
    expect(db.annotation.split('\n')).toContain(runMarker('run-a'));

    await stageAndApply('run-a', 1);
    for (const volume of VOLUMES) {
      expect(await imageSha256(flat(volume.volumeId))).toBe(await imageSha256(sources[volume.volumeKey] ?? ''));
    }
  }, 120_000);

  it('VerificationBoot boots each VM on non-persistent disks and powers it off, the disks unchanged', async () => {
    const before = await Promise.all(VOLUMES.map((volume) => imageSha256(flat(volume.volumeId))));

    const boot = await run('VerificationBoot', { runId: 'run-a' });

    expect(boot).toMatchObject({
      confirmation: 'automatic',
      hosts: [
        { name: 'homebound-db-i-0db', up: true, powerState: 'poweredOff' },
        { name: 'web-home', up: true, powerState: 'poweredOff' },
      ],
    });
    expect(await Promise.all(VOLUMES.map((volume) => imageSha256(flat(volume.volumeId))))).toEqual(before);
    const db = await readVm(client, await vmOf(DB));
    expect(db.powerState).toBe('poweredOff');
    expect(db.disks.map((disk) => disk.diskMode)).toEqual(['persistent', 'persistent']);
  }, 60_000);

  it('Cutover powers the VMs on with persistent disks, Verify describes them, Rollback powers them off keeping the disks', async () => {
    const cutover = await run('Cutover', { runId: 'run-a' });
    expect(cutover).toMatchObject({ confirmation: 'automatic', hosts: [{ powerState: 'poweredOn' }, { up: true }] });
    const db = await readVm(client, await vmOf(DB));
    expect(db.powerState).toBe('poweredOn');
    expect(db.disks.map((disk) => disk.diskMode)).toEqual(['persistent', 'persistent']);

    const verify = await run('Verify', { runId: 'run-a' });
    expect(verify).toMatchObject({
      confirmation: 'automatic',
      hosts: [
        {
          name: 'homebound-db-i-0db',
          powerState: 'poweredOn',
          numCPU: 2,
          memoryMiB: 8192,
          disks: [
            { volumeId: 'vol-0dbroot', location: '[LocalDS_0] homebound-disks/vol-0dbroot.vmdk', sizeBytes: SIZE },
            { volumeId: 'vol-0dbdata', location: '[LocalDS_0] homebound-disks/vol-0dbdata.vmdk', sizeBytes: SIZE },
          ],
        },
        { name: 'web-home', powerState: 'poweredOn', numCPU: 1, memoryMiB: 2048 },
      ],
    });

    const before = await Promise.all(VOLUMES.map((volume) => imageSha256(flat(volume.volumeId))));
    const rollback = await run('Rollback', { runId: 'run-a' });
    expect(rollback).toMatchObject({
      poweredOff: ['homebound-db-i-0db', 'web-home'],
      disksKept: VOLUMES.map((volume) => `[LocalDS_0] homebound-disks/${volume.volumeId}.vmdk`),
    });
    expect((await readVm(client, await vmOf(DB))).powerState).toBe('poweredOff');
    expect((await readVm(client, await vmOf(DB))).disks).toHaveLength(2);
    expect(await Promise.all(VOLUMES.map((volume) => imageSha256(flat(volume.volumeId))))).toEqual(before);
  }, 60_000);

  it('a new run on the same volumes reuses the disks and VMs; a rollback of a run the agent has no record of finds its VMs by annotation', async () => {
    // A VM up on persistent disks may be serving production: the new run refuses to write under it.
    await powerOn(client, await vmOf(WEB));
    const running = await failure('PrepareTarget', { runId: 'run-b', hosts: [DB, WEB], volumes: VOLUMES });
    expect(running).toMatchObject({
      name: 'FailbackVmRunningError',
      cause: expect.stringContaining('web-home'),
    });
    expect((await readVm(client, await vmOf(WEB))).powerState).toBe('poweredOn');
    expect((await readVm(client, await vmOf(DB))).annotation.split('\n')).toContain(runMarker('run-a'));
    await powerOff(client, await vmOf(WEB));

    const prepared = await run('PrepareTarget', { runId: 'run-b', hosts: [DB, WEB], volumes: VOLUMES });
    expect(prepared).toMatchObject({
      disks: VOLUMES.map((volume) => ({ volumeId: volume.volumeId, path: flat(volume.volumeId), created: false })),
    });
    const dbVm = await vmOf(DB);
    expect((await readVm(client, dbVm)).annotation.split('\n')).toContain(runMarker('run-b'));
    // A SIGKILLed agent resumes following run-b from its state dir and logs in to vCenter again at its next task.
    const restarted = await site.restartAgent('SIGKILL');
    // The next pass continues on what the last run wrote.
    await writeBlock(sources['db-root'] ?? '', SIZE, 5, 'random');
    await stageAndApply('run-b', 1);
    expect(await imageSha256(flat('vol-0dbroot'))).toBe(await imageSha256(sources['db-root'] ?? ''));
    expect(restarted.log()).toMatch(/run-b: following 3 volume\(s\)/);
    expect(await run('VerificationBoot', { runId: 'run-b' })).toMatchObject({ confirmation: 'automatic' });

    // run-b owns the VMs now: a late Rollback of run-a leaves them as they are, a boot of run-a is refused.
    await powerOn(client, dbVm);
    expect(await run('Rollback', { runId: 'run-a' })).toMatchObject({ poweredOff: [] });
    expect((await readVm(client, dbVm)).powerState).toBe('poweredOn');
    const fresh = await createPlatform(site.config.platform);
    const runA = { runId: 'run-a', hosts: [DB, WEB], volumes: [] };
    const reassigned = await fresh.cutover(runA, new AbortController().signal).catch((e: unknown) => e);
    expect(reassigned).toMatchObject({ name: 'FailbackVmReassignedError', vmName: 'homebound-db-i-0db' });

    // A platform that never saw run-b (another agent's, or one whose state was lost) still finds its VMs.
    const outcome = await fresh.rollback({ runId: 'run-b', hosts: [], volumes: [] }, new AbortController().signal);
    expect(outcome).toEqual({ poweredOff: ['homebound-db-i-0db'] });
    expect((await readVm(client, dbVm)).powerState).toBe('poweredOff');
    const none = await fresh.rollback({ runId: 'run-zzz', hosts: [], volumes: [] }, new AbortController().signal);
    expect(none).toEqual({ poweredOff: [] });
  }, 120_000);

  it('a disk smaller than its volume fails PrepareTarget with TargetDiskTooSmallError, changing nothing', async () => {
    const tooBig = VOLUMES.map((volume) => ({ ...volume, sizeBytes: 2 * SIZE }));
    const error = await failure('PrepareTarget', { runId: 'run-big', hosts: [DB, WEB], volumes: tooBig });
    expect(error).toMatchObject({
      name: 'TargetDiskTooSmallError',
      cause: expect.stringContaining('homebound-disks/vol-0dbdata.vmdk'),
    });
    expect((await stat(flat('vol-0dbdata'))).size).toBe(SIZE);
  });

  it('with until: tools, Verify waits for VMware Tools (never running in vcsim) and fails with GuestNotUpError', async () => {
    const platform = await createPlatform({ ...vsphereConfig(), until: 'tools', guestTimeoutSeconds: 1 });
    const dbVm = await vmOf(DB);
    if ((await readVm(client, dbVm)).powerState !== 'poweredOn') await powerOn(client, dbVm);
    const runB = { runId: 'run-b', hosts: [DB], volumes: [] };
    const error = await platform.verify(runB, new AbortController().signal).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'GuestNotUpError', vmName: 'homebound-db-i-0db', timeoutMs: 1000 });
    // The same VM counts as up with until: power.
    const power = await createPlatform(site.config.platform);
    expect(await power.verify(runB, new AbortController().signal)).toMatchObject({ hosts: [{ up: true }] });
  }, 30_000);

  it('a missing or empty password file fails with VspherePasswordFileError naming the file, not its content', async () => {
    const empty = join(site.dir, 'empty-password');
    await writeFile(empty, '\n', { mode: 0o400 });
    const signal = new AbortController().signal;
    const runB = { runId: 'run-b', hosts: [DB], volumes: [] };
    for (const passwordFile of [join(site.dir, 'no-such-file'), empty]) {
      const platform = await createPlatform({ ...vsphereConfig(), passwordFile });
      const error = await platform.describe(runB, signal).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'VspherePasswordFileError', path: passwordFile });
    }
  });

  it('refuses a VM placement other than its config, naming the host and field, before making anything', async () => {
    const elsewhere = { ...WEB, placement: { datastore: 'OtherDS' } };
    const refused = await failure('PrepareTarget', {
      runId: 'run-elsewhere',
      hosts: [elsewhere],
      volumes: VOLUMES.filter((volume) => volume.hostId === WEB.hostId),
    });
    expect(refused).toMatchObject({
      name: 'PlacementNotConfiguredError',
      cause: expect.stringContaining('failback.datastore "OtherDS"'),
    });
  }, 60_000);

  describe('a wrong config fails the task with a named error', () => {
    beforeAll(async () => {
      // One agent at a time polls the activity: the site's is stopped while these run.
      await site.agent()?.stop();
    });

    async function withConfig(name: string, change: (platform: Record<string, unknown>) => Record<string, unknown>) {
      const dir = await mkdtemp(join(site.dir, `${name}-`));
      const config = { ...site.config, stateDir: join(dir, 'state'), platform: change({ ...site.config.platform }) };
      const configPath = join(dir, 'agent.json');
      await writeFile(configPath, JSON.stringify(config));
      const agent = await startAgentProcess({ configPath, env: site.agentEnv(), logFile: join(dir, 'agent.log') });
      try {
        const error = await failure('PrepareTarget', {
          runId: `run-${name}`,
          hosts: [DB],
          volumes: VOLUMES.slice(0, 2),
        });
        return { error, log: agent.log() };
      } finally {
        await agent.stop();
      }
    }

    it('an unknown datastore, port group or resource pool', async () => {
      const datastore = await withConfig('datastore', (platform) => ({
        ...platform,
        datastore: 'NoSuchDS',
        datastoreMounts: { NoSuchDS: datastoreDir },
      }));
      const network = await withConfig('network', (platform) => ({ ...platform, network: 'No Such Network' }));
      const pool = await withConfig('pool', (platform) => ({ ...platform, resourcePool: 'no-such-pool' }));

      expect(datastore.error).toMatchObject({
        name: 'DatastoreNotFoundError',
        cause: expect.stringContaining('NoSuchDS'),
      });
      expect(network.error).toMatchObject({ name: 'NetworkNotFoundError' });
      expect(pool.error).toMatchObject({
        name: 'ResourcePoolNotFoundError',
        cause: expect.stringContaining('no-such-pool'),
      });
    }, 60_000);

    it('a wrong vCenter password: VsphereLoginError, and neither password in any output', async () => {
      const wrong = 'Wr0ng-vcenter-Passw0rd';
      const passwordFile = join(site.dir, 'wrong-password');
      await writeFile(passwordFile, `${wrong}\n`, { mode: 0o400 });
      const { error, log } = await withConfig('login', (platform) => ({ ...platform, passwordFile }));

      expect(error).toMatchObject({ name: 'VsphereLoginError', cause: expect.stringContaining('homebound') });
      const right = site.env().HOMEBOUND_VSPHERE_PASSWORD ?? '';
      const everything = [JSON.stringify(error), log, ...outputs, await readFile(site.agentLogFile, 'utf8')].join('\n');
      expect(everything).not.toContain(wrong);
      expect(everything).not.toContain(right);
    }, 60_000);
  });
});
