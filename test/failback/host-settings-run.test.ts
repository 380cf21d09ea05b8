import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrillTakeoverHost } from '../../cli/drill/takeover.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { runLayout } from '../../core/failback/run-state.js';
import { RunReport } from '../../core/failback/steps/report.js';
import { type FailbackFixture, startFailbackFixture } from '../support/failback.js';

const HOME_SUBNET = 'subnet-0000000000000a11';

let fixture: FailbackFixture;
beforeAll(async () => {
  fixture = await startFailbackFixture({
    failbackLaunch: { subnetId: HOME_SUBNET, securityGroupIds: ['sg-0aaa', 'sg-0bbb'] },
  });
});
afterAll(async () => {
  await fixture?.stop();
});

describe('automated failback with per-host settings (local run)', () => {
  it('launches each failback host with its requested type, subnet, groups and remapped address, and cuts over to it', async () => {
    const { compute } = fixture.env;
    await compute.createSubnet('192.168.5.0/24', HOME_SUBNET);
    const other = await compute.createSubnet('192.168.6.0/24');
    const dr = await compute.createSubnet('10.8.0.0/24');
    const takeover = (name: string, privateIp: string, seed: number) =>
      createDrillTakeoverHost(fixture.env, {
        name,
        volumes: 1,
        sizeBytes: 4 * 1024 * 1024,
        writesPerSecond: 20,
        seed,
        host: { instanceType: 't3.medium', subnetId: dr.subnetId, privateIp, tags: { app: 'billing' } },
      });
    const db = await takeover('db', '10.8.0.25', 31);
    const web = await takeover('web', '10.8.0.26', 32);
    const request = fixture.request([], {
      hosts: [
        { id: db.hostId, failback: { instanceType: 'r5.large', privateIp: 'keep', securityGroupIds: ['sg-0bbb'] } },
        {
          id: web.hostId,
          wave: 2,
          failback: { instanceType: 'c5.large', subnetId: other.subnetId, privateIp: 'auto' },
        },
      ],
      network: { remap: [{ from: '10.8.0.0/24', to: '192.168.5.0/24' }] },
    });

    const execution = fixture.env.machine.run(request, { executionName: 'host-settings' });
    const approval = await fixture.env.approvals.next();
    await fixture.env.approvals.approve(approval.runId, 'test');
    await expect(execution.result).resolves.toMatchObject({ status: 'succeeded' });

    const launched = (await compute.describeHosts({ tag: { key: 'homebound:run', value: 'host-settings' } })).filter(
      (host) => host.role === 'failback',
    );
    const replacing = (hostId: string) => launched.find((host) => host.tags['homebound:replaces'] === hostId);
    expect(replacing(db.hostId)).toMatchObject({
      state: 'running',
      instanceType: 'r5.large',
      subnetId: HOME_SUBNET,
      privateIp: '192.168.5.25',
      securityGroupIds: ['sg-0bbb'],
      tags: { app: 'billing', Name: 'db-failback' },
    });
    expect(replacing(web.hostId)).toMatchObject({
      state: 'running',
      instanceType: 'c5.large',
      subnetId: other.subnetId,
      privateIp: '192.168.6.4',
      securityGroupIds: ['sg-0aaa', 'sg-0bbb'],
      tags: { app: 'billing' },
    });
    expect(replacing(db.hostId)?.tags).not.toHaveProperty('homebound:takeover');
    // The run report says what each failback host runs as and where.
    const record = fixture.env.deps.staging(runLayout.record('host-settings'));
    const report = parseStagedJson(RunReport, await record.get(runLayout.reportKey), 'report.json');
    expect(report.hosts.find((host) => host.replaces === db.hostId)).toMatchObject({
      instanceType: 'r5.large',
      subnetId: HOME_SUBNET,
      privateIp: '192.168.5.25',
    });
    expect(replacing(db.hostId)?.volumes.map((volume) => volume.device)).toEqual(db.volumes.map((v) => v.device));
  });
});
