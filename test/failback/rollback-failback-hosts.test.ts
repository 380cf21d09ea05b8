import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrillTakeoverHost } from '../../cli/drill/takeover.js';
import { checkWorkloadWrites, compareVolumes } from '../../cli/drill/verify.js';
import { type Host, LIVE_STATE, STATE_TAG } from '../../core/compute/port.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { DrillInjectedFailure } from '../../core/failback/errors.js';
import { KEPT_FOR_TAG } from '../../core/failback/kept-target.js';
import { removeFailbackHosts } from '../../core/failback/remove-failback-hosts.js';
import { RUN_TAG, runLayout } from '../../core/failback/run-state.js';
import { cleanUp } from '../../core/failback/steps/clean-up.js';
import { RunReport } from '../../core/failback/steps/report.js';
import { ExecutionFailedError, type LocalExecution } from '../../core/orchestration/local-runner.js';
import { type FailbackFixture, startFailbackFixture } from '../support/failback.js';

const HOME_SUBNET = 'subnet-0000000000000b22';

let fixture: FailbackFixture;
beforeAll(async () => {
  fixture = await startFailbackFixture({ failbackLaunch: { subnetId: HOME_SUBNET } });
  await fixture.env.compute.createSubnet('192.168.7.0/24', HOME_SUBNET);
});
afterAll(async () => {
  await fixture?.stop();
});

async function rolledBack(execution: LocalExecution): Promise<void> {
  const error = await execution.result.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof ExecutionFailedError)) throw new Error(`expected a rollback, got ${String(error)}`);
  expect(error.error).toBe('FailbackRolledBack');
}

async function runReport(runId: string) {
  const record = fixture.env.deps.staging(runLayout.record(runId));
  return parseStagedJson(RunReport, await record.get(runLayout.reportKey), 'report.json');
}

async function failbackHostsOf(runId: string): Promise<Host[]> {
  const hosts = await fixture.env.compute.describeHosts({ tag: { key: RUN_TAG, value: runId } });
  return hosts.filter((host) => host.role === 'failback');
}

/** The target volume kept for each takeover volume of `host`, found by tag as the next run finds it. */
async function keptTargets(host: Host) {
  return Promise.all(
    host.volumes.map(async (volume) => {
      const [target] = await fixture.env.compute.findVolumes({ [KEPT_FOR_TAG]: volume.volumeId });
      return target;
    }),
  );
}

describe('rollback leaves no failback host behind (CleanUpAfterRollback)', () => {
  it('terminates a rejected run’s failback hosts, so a retry asking the same addresses gets them, incrementally and identical', async () => {
    const dr = await fixture.env.compute.createSubnet('10.9.0.0/24');
    const takeover = (name: string, privateIp: string, seed: number) =>
      createDrillTakeoverHost(fixture.env, {
        name,
        volumes: 2,
        sizeBytes: 4 * 1024 * 1024,
        writesPerSecond: 20,
        seed,
        host: { subnetId: dr.subnetId, privateIp },
      });
    const db = await takeover('db', '10.9.0.25', 41);
    const web = await takeover('web', '10.9.0.26', 42);
    // One kept (remapped) address, one given.
    const request = fixture.request([], {
      hosts: [
        { id: db.hostId, failback: { privateIp: 'keep' } },
        { id: web.hostId, failback: { privateIp: '192.168.7.40' } },
      ],
      network: { remap: [{ from: '10.9.0.0/24', to: '192.168.7.0/24' }] },
    });
    const addresses = { [db.hostId]: '192.168.7.25', [web.hostId]: '192.168.7.40' };

    const first = fixture.env.machine.run(request, { executionName: 'kept-address-rejected' });
    const asked = await fixture.env.approvals.next();
    await fixture.env.approvals.reject(asked.runId, 'test', 'not tonight');
    await rolledBack(first);

    // The rejected run held the addresses, and let them go: its failback hosts are terminated, its targets kept.
    const rejectedHosts = await failbackHostsOf('kept-address-rejected');
    expect(rejectedHosts.map((host) => [host.privateIp, host.state]).sort()).toEqual([
      ['192.168.7.25', 'terminated'],
      ['192.168.7.40', 'terminated'],
    ]);
    const kept = [...(await keptTargets(db)), ...(await keptTargets(web))];
    expect(kept.every((target) => target !== undefined && target.attachedTo === undefined)).toBe(true);
    expect((await runReport('kept-address-rejected')).keptTargets?.every((k) => k.snapshotId !== undefined)).toBe(true);
    expect(await fixture.env.compute.describeHosts({ hostIds: [db.hostId, web.hostId] })).toMatchObject([
      { state: 'running' },
      { state: 'running' },
    ]);

    const second = fixture.env.machine.run(request, { executionName: 'kept-address-retry' });
    const again = await fixture.env.approvals.next();
    await fixture.env.approvals.approve(again.runId, 'test');
    await expect(second.result).resolves.toMatchObject({ status: 'succeeded' });

    const report = await runReport('kept-address-retry');
    expect(report.firstPass?.kind).toBe('incremental');
    expect(report.passes[0]?.kind).toBe('incremental');
    // The retry ran on the kept target volumes.
    expect(report.volumes.map((volume) => volume.targetVolumeId).sort()).toEqual(
      kept.map((target) => target?.volumeId).sort(),
    );
    const retryHosts = await failbackHostsOf('kept-address-retry');
    expect(retryHosts).toHaveLength(2);
    for (const host of retryHosts) {
      expect(host.state).toBe('running');
      expect(host.subnetId).toBe(HOME_SUBNET);
      expect(host.privateIp).toBe(addresses[host.tags['homebound:replaces'] ?? '']);
    }
    const volumes = await compareVolumes(fixture.env, report.volumes);
    expect(volumes.map((volume) => volume.identical)).toEqual([true, true, true, true]);
    for (const host of [db, web]) {
      const target = (id: string) => report.volumes.find((volume) => volume.sourceVolumeId === id)?.targetVolumeId;
      expect((await checkWorkloadWrites(fixture.env, host, target)).lost).toEqual([]);
    }
  });

  it('after a rollback past Cutover, detaches the target volumes from the failback host, keeps them and terminates it', async () => {
    const host = await fixture.takeoverHost('past-cutover', 43);
    fixture.faults.set('VerifyFailback', () => {
      throw new DrillInjectedFailure('VerifyFailback');
    });
    let execution: LocalExecution;
    try {
      execution = fixture.env.machine.run(fixture.request([host.hostId]), { executionName: 'past-cutover' });
      const asked = await fixture.env.approvals.next();
      await fixture.env.approvals.approve(asked.runId, 'test');
      await rolledBack(execution);
    } finally {
      fixture.faults.delete('VerifyFailback');
    }

    const [failbackHost, ...others] = await failbackHostsOf('past-cutover');
    expect(others).toEqual([]);
    expect(failbackHost).toMatchObject({ state: 'terminated', volumes: [] });
    const report = await runReport('past-cutover');
    const targets = report.keptTargets ?? [];
    expect(targets).toHaveLength(host.volumes.length);
    // Kept without a proof: the failback host ran on them (the next run makes a full pass).
    for (const target of targets) {
      expect(target.snapshotId).toBeUndefined();
      expect(target.reason).toContain('no longer attached to the sync gateway');
    }
    const volumes = await fixture.env.compute.findVolumes({ [RUN_TAG]: 'past-cutover' });
    expect(volumes.map((volume) => volume.volumeId).sort()).toEqual(targets.map((t) => t.targetVolumeId).sort());
    expect(volumes.every((volume) => volume.attachedTo === undefined)).toBe(true);
    // Detached by CleanUpAfterRollback itself, not left to the termination (EC2 would delete one marked so).
    const cleanedUp = execution.history.find(
      (event) => event.type === 'StateExited' && event.stateName === 'CleanUpAfterRollback',
    );
    const output = (cleanedUp?.type === 'StateExited' ? cleanedUp.output : {}) as {
      cleanUp?: { failbackHosts?: { terminated: string[]; detached: string[] } };
    };
    expect(output.cleanUp?.failbackHosts?.terminated).toEqual([failbackHost?.hostId]);
    expect(output.cleanUp?.failbackHosts?.detached.sort()).toEqual(targets.map((t) => t.targetVolumeId).sort());
    const [takeover] = await fixture.env.compute.describeHosts({ hostIds: [host.hostId] });
    expect(takeover?.state).toBe('running');
    expect((await checkWorkloadWrites(fixture.env, host)).lost).toEqual([]);
  });

  it('never terminates a takeover host or a live failback host tagged with the rolled-back run', async () => {
    const takeover = await fixture.takeoverHost('tagged-takeover', 44);
    await fixture.env.compute.createTags([takeover.hostId], { [RUN_TAG]: 'guarded' });
    const live = await fixture.env.compute.runInstance({
      role: 'failback',
      name: 'live-failback',
      tags: { [RUN_TAG]: 'guarded', [STATE_TAG]: LIVE_STATE },
    });
    const stale = await fixture.env.compute.runInstance({
      role: 'failback',
      name: 'stale-failback',
      tags: { [RUN_TAG]: 'guarded' },
    });

    const result = await cleanUp(
      { runId: 'guarded', rollback: { reason: 'test' }, failback: { hostIds: [live] } },
      fixture.env.deps,
    );

    expect(result.failbackHosts?.terminated).toEqual([stale]);
    const states = await fixture.env.compute.describeHosts({ hostIds: [takeover.hostId, live, stale] });
    expect(states.map((h) => h.state)).toEqual(['running', 'running', 'terminated']);
  });

  it('leaves a failback host that holds a target volume and is not stopped in time, volume attached, saying why', async () => {
    const { compute } = fixture.env;
    const target = await compute.createVolume({ sizeBytes: 1024 * 1024, tags: { [RUN_TAG]: 'not-stopped' } });
    const host = await compute.runInstance({ role: 'failback', name: 'busy', tags: { [RUN_TAG]: 'not-stopped' } });
    await compute.attachVolume(target, host, '/dev/xvdf');

    const removed = await removeFailbackHosts(
      { runId: 'not-stopped', knownHostIds: [host], targetVolumeIds: new Set([target]), waitUntil: Date.now() },
      fixture.env.deps,
    );

    expect(removed).toEqual({
      terminated: [],
      detached: [],
      left: [{ hostId: host, reason: 'it holds a target volume and was not stopped in time to detach it' }],
    });
    const [after] = await compute.describeHosts({ hostIds: [host] });
    expect(after).toMatchObject({ state: 'running', volumes: [{ volumeId: target }] });
  });
});
