import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWorkloadWrites, compareVolumes } from '../../cli/drill/verify.js';
import type { Host } from '../../core/compute/port.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { TransientError } from '../../core/errors.js';
import { DrillInjectedFailure } from '../../core/failback/errors.js';
import { runLayout } from '../../core/failback/run-state.js';
import { RunReport } from '../../core/failback/steps/report.js';
import { ExecutionFailedError, type LocalExecution } from '../../core/orchestration/local-runner.js';
import { type FailbackFixture, startFailbackFixture, statesEntered } from '../support/failback.js';

let fixture: FailbackFixture;
beforeAll(async () => {
  fixture = await startFailbackFixture();
});
afterAll(async () => {
  await fixture?.stop();
});

async function hostState(hostId: string) {
  const [host] = await fixture.env.compute.describeHosts({ hostIds: [hostId] });
  return host?.state;
}

async function runReport(runId: string) {
  const record = fixture.env.deps.staging(runLayout.record(runId));
  return parseStagedJson(RunReport, await record.get(runLayout.reportKey), 'report.json');
}

async function failure(execution: LocalExecution): Promise<ExecutionFailedError> {
  const error = await execution.result.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof ExecutionFailedError)) throw new Error(`expected the execution to fail, got ${String(error)}`);
  return error;
}

/** Host state changes finish in the background (a stop waits for the workload or the gateway process to end). */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (const started = Date.now(); Date.now() - started < 20_000; ) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/**
 * Every write the takeover workload made is still on the takeover volumes, the takeover host runs again, and the
 * run's failback hosts and gateways are terminated (a stopped failback host would keep its address).
 */
async function expectRolledBackWithNothingLost(host: Host, failbackHostIds: readonly string[]) {
  expect(await hostState(host.hostId)).toBe('running');
  expect(failbackHostIds.length).toBeGreaterThan(0);
  for (const id of failbackHostIds)
    await eventually(async () => (await hostState(id)) === 'terminated', `${id} is terminated`);
  await eventually(async () => {
    const gateways = (await fixture.env.compute.describeHosts()).filter((h) => h.role === 'gateway');
    return gateways.every((gateway) => gateway.state === 'terminated');
  }, 'every gateway is terminated');
  const writes = await checkWorkloadWrites(fixture.env, host);
  expect(writes.writes).toBeGreaterThan(0);
  expect(writes.lost).toEqual([]);
}

/**
 * After a cutover: the takeover host stopped, its failback host runs with the synced volumes at the same devices,
 * each failback volume is byte-identical to its takeover volume and holds every write; staging is cleaned up.
 */
async function expectFailedBackWithNothingLost(host: Host, runId: string) {
  const report = await runReport(runId);
  expect(report.status).toBe('succeeded');
  expect(await hostState(host.hostId)).toBe('stopped');
  const [failbackId = ''] = await failbackHostsOf(runId);
  const [failbackHost] = await fixture.env.compute.describeHosts({ hostIds: [failbackId] });
  expect(failbackHost?.state).toBe('running');
  expect(failbackHost?.volumes.map((volume) => volume.device)).toEqual(host.volumes.map((volume) => volume.device));
  const volumes = await compareVolumes(fixture.env, report.volumes);
  expect(volumes.map((volume) => volume.identical)).toEqual(host.volumes.map(() => true));
  const writes = await checkWorkloadWrites(
    fixture.env,
    host,
    (id) => report.volumes.find((volume) => volume.sourceVolumeId === id)?.targetVolumeId,
  );
  expect(writes.writes).toBeGreaterThan(0);
  expect(writes.lost).toEqual([]);
  expect(await fixture.env.deps.staging(runLayout.volumes(runId)).list('')).toEqual([]);
  // The gateway's acks and heartbeat (below its instance ARN) go with the clean-up too.
  expect(await fixture.env.deps.staging(runLayout.gateways(runId)).list('')).toEqual([]);
  return report;
}

async function failbackHostsOf(runId: string): Promise<string[]> {
  const hosts = await fixture.env.compute.describeHosts({ tag: { key: 'homebound:run', value: runId } });
  return hosts.filter((host) => host.role === 'failback').map((host) => host.hostId);
}

describe('automated failback state machine (statemachines/automated-failback.asl.json on the local runner)', () => {
  it('fails back on approval: failback volumes byte-identical to the stopped takeover volumes, nothing left behind', async () => {
    const host = await fixture.takeoverHost('happy', 11);
    const execution = fixture.env.machine.run(fixture.request([host.hostId]), { executionName: 'happy-path' });
    const request = await fixture.env.approvals.next();
    expect(request.url).not.toContain(fixture.env.machine.taskTokens.pending()[0]?.taskToken ?? 'no token pending');
    expect(await fixture.env.approvals.approve(request.runId, 'test')).toBe(true);
    const output = (await execution.result) as { status: string; passes: number; downtimeSeconds: number };

    expect(output.status).toBe('succeeded');
    const report = await expectFailedBackWithNothingLost(host, 'happy-path');
    expect(report.passes.map((pass) => pass.kind)).toEqual([
      'full',
      ...Array(report.passes.length - 1).fill('incremental'),
    ]);
    expect(report.passes.at(-1)?.final).toBe(true);
    expect(report.downtimeSeconds).toBeGreaterThan(0);
  });

  it('rolls back on rejection: takeover hosts keep serving, failback hosts terminated, no write lost', async () => {
    const host = await fixture.takeoverHost('rejected', 12);
    const execution = fixture.env.machine.run(fixture.request([host.hostId]), { executionName: 'rejected' });
    const request = await fixture.env.approvals.next();
    await fixture.env.approvals.reject(request.runId, 'test', 'not tonight');

    const error = await failure(execution);
    expect(error.error).toBe('FailbackRolledBack');
    expect(error.cause).toContain('cutover rejected: not tonight');
    expect(statesEntered(execution.history)).not.toContain('StopTakeoverHosts');
    await expectRolledBackWithNothingLost(host, await failbackHostsOf('rejected'));
    expect((await runReport('rejected')).status).toBe('rolled-back');
  });

  it('rolls back when nobody decides before the approval times out', async () => {
    const host = await fixture.takeoverHost('timeout', 13);
    const execution = fixture.env.machine.run(fixture.request([host.hostId], { approval: { timeoutSeconds: 1 } }), {
      executionName: 'approval-timeout',
    });
    await fixture.env.approvals.next();

    const error = await failure(execution);
    expect(error.error).toBe('FailbackRolledBack');
    expect(error.cause).toContain('approval timed out');
    await expectRolledBackWithNothingLost(host, await failbackHostsOf('approval-timeout'));
  });

  it('retries a transient failure and still fails back', async () => {
    const host = await fixture.takeoverHost('transient', 14);
    let thrown = 0;
    fixture.faults.set('SnapshotVolumes', () => {
      fixture.faults.delete('SnapshotVolumes');
      thrown++;
      throw new TransientError('EC2 said try again');
    });
    const execution = fixture.env.machine.run(fixture.request([host.hostId]), { executionName: 'transient' });
    const request = await fixture.env.approvals.next();
    await fixture.env.approvals.approve(request.runId, 'test');

    await expect(execution.result).resolves.toMatchObject({ status: 'succeeded' });
    expect(thrown).toBe(1);
    expect(execution.history.some((e) => e.type === 'StateRetried' && e.stateName === 'SnapshotVolumes')).toBe(true);
    await expectFailedBackWithNothingLost(host, 'transient');
  });

  it('rolls back a hard failure after the takeover hosts stopped: they start again and nothing is lost', async () => {
    const host = await fixture.takeoverHost('hard-failure', 15);
    fixture.faults.set('Cutover', () => {
      throw new DrillInjectedFailure('Cutover');
    });
    try {
      const execution = fixture.env.machine.run(fixture.request([host.hostId]), { executionName: 'hard-failure' });
      const request = await fixture.env.approvals.next();
      await fixture.env.approvals.approve(request.runId, 'test');

      const error = await failure(execution);
      expect(error.error).toBe('FailbackRolledBack');
      expect(error.cause).toContain('DrillInjectedFailure');
      const states = statesEntered(execution.history);
      expect(states.indexOf('StopTakeoverHosts')).toBeGreaterThan(-1);
      expect(states.indexOf('Rollback')).toBeGreaterThan(states.indexOf('FinalSnapshot'));
      await expectRolledBackWithNothingLost(host, await failbackHostsOf('hard-failure'));
    } finally {
      fixture.faults.delete('Cutover');
    }
  });
});

describe('automated failback: invalid requests fail at the first step and create nothing', () => {
  interface Hosts {
    /** A tagged takeover host with volumes. */
    readonly host: string;
    /** A tagged takeover host without volumes. */
    readonly empty: string;
    /** A host without the takeover tag. */
    readonly untagged: string;
  }
  const cases: [string, (hosts: Hosts) => Record<string, unknown>, string][] = [
    ['an unknown host', () => fixture.request(['i-00000000000000000']), 'HostNotFoundError'],
    ['a host without volumes', ({ empty }) => fixture.request([empty]), 'HostWithoutVolumesError'],
    ['a host without the takeover tag', ({ untagged }) => fixture.request([untagged]), 'MissingTakeoverTagError'],
    ['an unknown method', ({ host }) => fixture.request([host], { method: 'teleport' }), 'UnknownMethodError'],
    ['a missing target', ({ host }) => ({ ...fixture.request([host]), target: undefined }), 'MissingTargetError'],
    [
      'a convergence threshold that is not a number',
      ({ host }) => fixture.request([host], { convergence: { thresholdMiB: 'small', maxPasses: 4 } }),
      'InvalidFailbackRequestError',
    ],
  ];

  it.each(cases)('%s', async (_name, makeRequest, expected) => {
    const host = await fixture.takeoverHost('invalid', 16);
    const { key, value } = fixture.env.deps.takeoverTag;
    const empty = await fixture.env.compute.runInstance({ role: 'takeover', name: 'empty', tags: { [key]: value } });
    const untagged = await fixture.env.compute.runInstance({ role: 'takeover', name: 'untagged' });
    const before = await fixture.env.compute.describeHosts();
    const execution = fixture.env.machine.run(makeRequest({ host: host.hostId, empty, untagged }), {
      executionName: `invalid-${expected}`,
    });

    const error = await failure(execution);
    expect(error.error).toBe(expected);
    expect(statesEntered(execution.history)).toEqual(['ValidateRequest']);
    expect(await fixture.env.compute.describeHosts()).toHaveLength(before.length);
    expect(await fixture.env.deps.staging(runLayout.root(`invalid-${expected}`)).list('')).toEqual([]);
    await fixture.env.compute.stopInstances([host.hostId]);
  });
});
