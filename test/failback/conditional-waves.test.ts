import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrillTakeoverHost } from '../../cli/drill/takeover.js';
import type { Host } from '../../core/compute/port.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { runLayout } from '../../core/failback/run-state.js';
import { RunReport } from '../../core/failback/steps/report.js';
import { VCSIM_START_TIMEOUT_MS } from '../../core/localcloud/vcsim.js';
import { conditionalAutomatedMethod } from '../../core/methods/conditional-automated.js';
import { failbackVmName } from '../../core/onprem/vsphere-platform.js';
import { ExecutionFailedError, type LocalExecution } from '../../core/orchestration/local-runner.js';
import { VsphereClient } from '../../core/vsphere/client.js';
import { findVmIfExists } from '../../core/vsphere/inventory.js';
import { readVm } from '../../core/vsphere/vm.js';
import { type LocalOnPremFailback, startLocalOnPremFailback } from '../../core/wiring/local-onprem.js';

/**
 * statemachines/conditional-automated-failback.asl.json on the local runner with the vsphere platform (vcsim): the
 * failback VMs start wave by wave, each wave's health checks run by the agent on-prem — the VM powered on, and a tcp
 * check against the guest IP vcsim reports (set through the VM's extraConfig, as VMware Tools would report it).
 */

let dir: string;
let env: LocalOnPremFailback;
let client: VsphereClient;
let service: { server: Server; port: number };
const hosts: Record<'db' | 'app' | 'faildb' | 'failapp' | 'gonedb' | 'goneapp', Host> = {} as never;

/** A TCP port on loopback that accepts connections: the service the tcp checks find at the guest IP. */
async function listen(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port };
}

const vmName = (host: Host) => failbackVmName({ hostId: host.hostId, name: host.tags.Name ?? host.hostId });

async function vmOf(host: Host) {
  const vm = await findVmIfExists(client, 'DC0', vmName(host));
  if (!vm) throw new Error(`no VM ${vmName(host)}`);
  return vm;
}

/** Gives every VM of these hosts that exists the guest IP 127.0.0.1 (what VMware Tools would report). */
async function setGuestIps(of: readonly Host[]) {
  for (const host of of) {
    const vm = await findVmIfExists(client, 'DC0', vmName(host));
    if (!vm) continue;
    await client.runTask(
      'ReconfigVM_Task',
      vm,
      '<spec><extraConfig xsi:type="OptionValue"><key>SET.guest.ipAddress</key><value xsi:type="xsd:string">127.0.0.1</value></extraConfig></spec>',
    );
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-conditional-waves-'));
  service = await listen();
  env = await startLocalOnPremFailback({
    method: conditionalAutomatedMethod,
    dir,
    platform: 'vsphere',
    waitMs: 50,
    retryIntervalMs: 20,
    agentHeartbeatTimeoutMs: 8000,
    // The VMs exist once PrepareTarget ran: before the first pass is recorded they get their guest IP.
    stateHandlers: (bound) => ({
      RecordPass: async (input, context) => {
        await setGuestIps(Object.values(hosts));
        return bound('RecordPass')(input, context);
      },
    }),
  });
  let seed = 51;
  for (const name of ['db', 'app', 'faildb', 'failapp', 'gonedb', 'goneapp'] as const) {
    hosts[name] = await createDrillTakeoverHost(env, {
      name,
      volumes: 1,
      sizeBytes: 4 * 1024 * 1024,
      writesPerSecond: 20,
      seed: seed++,
    });
  }
  const site = await env.startSite(Object.values(hosts).flatMap((host) => host.volumes.map((v) => v.volumeId)));
  const siteEnv = site.env();
  client = await VsphereClient.connect(
    { url: siteEnv.HOMEBOUND_VSPHERE_URL ?? '' },
    { username: siteEnv.HOMEBOUND_VSPHERE_USER ?? '', password: siteEnv.HOMEBOUND_VSPHERE_PASSWORD ?? '' },
  );
}, VCSIM_START_TIMEOUT_MS + 60_000);

afterAll(async () => {
  service?.server.close();
  await client?.logout();
  await env?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function request(
  first: Host,
  second: Host,
  secondPort: number,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    method: 'conditional-automated',
    hosts: [
      { id: first.hostId, wave: 1, healthChecks: [{ type: 'tcp', port: service.port, timeoutSeconds: 2 }] },
      { id: second.hostId, wave: 2, healthChecks: [{ type: 'tcp', port: secondPort, timeoutSeconds: 2 }] },
    ],
    target: { platform: 'vsphere' },
    convergence: { thresholdMiB: 64, maxPasses: 3 },
    approval: { timeoutSeconds: 120 },
    cutover: { healthTimeoutSeconds: 8 },
    agent: {
      heartbeatSeconds: 1,
      unavailableAfterSeconds: 30,
      prepareTimeoutSeconds: 120,
      operationTimeoutSeconds: 120,
    },
    ...overrides,
  };
}

async function runReport(runId: string) {
  const record = env.deps.staging(runLayout.record(runId));
  return parseStagedJson(RunReport, await record.get(runLayout.reportKey), 'report.json');
}

/** Approves the cutover once asked, or fails with the run's own end if it comes first. */
async function approve(execution: LocalExecution) {
  const approval = await Promise.race([
    env.approvals.next(),
    execution.result.then((output) => {
      throw new Error(`${execution.executionName} ended without asking for approval: ${JSON.stringify(output)}`);
    }),
  ]);
  await env.approvals.approve(approval.runId, 'test');
}

async function hostState(hostId: string) {
  const [host] = await env.compute.describeHosts({ hostIds: [hostId] });
  return host?.state;
}

describe('conditional-automated failback in waves (vsphere platform, vcsim)', () => {
  it('powers wave 2’s VM on only after wave 1’s passed its health checks on-prem; the report has both waves', async () => {
    const execution = env.machine.run(request(hosts.db, hosts.app, service.port), { executionName: 'waves-ok' });
    await approve(execution);
    await expect(execution.result).resolves.toMatchObject({ status: 'succeeded' });

    const report = await runReport('waves-ok');
    const [first, second] = report.waves ?? [];
    expect(first).toMatchObject({
      wave: 1,
      hosts: [{ takeoverHostId: hosts.db.hostId, healthChecks: [{ name: 'state', passed: true }, { passed: true }] }],
    });
    expect(second).toMatchObject({
      wave: 2,
      hosts: [{ takeoverHostId: hosts.app.hostId, healthChecks: [{ name: 'state', passed: true }, { passed: true }] }],
    });
    // Wave 2's cutover began after wave 1 was healthy; wave 1's takeover host stopped after wave 2's (reverse order).
    expect(Date.parse(second?.failbackStartedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(first?.healthyAt ?? ''));
    expect(Date.parse(first?.healthyAt ?? '')).toBeGreaterThanOrEqual(Date.parse(first?.failbackStartedAt ?? ''));
    expect(Date.parse(first?.takeoverStoppedAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(second?.takeoverStoppedAt ?? ''),
    );
    // The verification boot before approval went wave by wave too: wave 2's boot began after wave 1's ended.
    const boots = execution.history.flatMap((event) => {
      if (event.type === 'StateEntered' && event.stateName === 'VerificationBoot') {
        return [`boot ${(event.input as { takeoverHostIds?: string[] }).takeoverHostIds?.join(',')}`];
      }
      return event.type === 'StateExited' && event.stateName === 'VerificationBoot' ? ['booted'] : [];
    });
    expect(boots).toEqual([`boot ${hosts.db.hostId}`, 'booted', `boot ${hosts.app.hostId}`, 'booted']);
    for (const host of [hosts.db, hosts.app]) {
      expect((await readVm(client, await vmOf(host))).powerState).toBe('poweredOn');
      expect(await hostState(host.hostId)).toBe('stopped');
    }
  }, 240_000);

  it('a wave whose tcp check finds a closed port rolls the run back: every VM powered off, the takeover hosts running', async () => {
    const closed = await listen();
    closed.server.close();
    const execution = env.machine.run(request(hosts.faildb, hosts.failapp, closed.port), {
      executionName: 'waves-unhealthy',
    });
    await approve(execution);
    const error = await execution.result.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(ExecutionFailedError);
    expect((error as ExecutionFailedError).error).toBe('FailbackRolledBack');
    expect((error as ExecutionFailedError).cause).toContain(`${hosts.failapp.hostId} tcp:${closed.port}`);

    // Wave 1 had come up and passed its checks, wave 2 never did; the rollback powered both VMs off again.
    const iterations = execution.history.flatMap((event) =>
      (event.type === 'MapIterationSucceeded' || event.type === 'MapIterationFailed') &&
      event.stateName === 'CutoverWaves'
        ? [`${event.index}:${event.type}`]
        : [],
    );
    expect(iterations).toEqual(['0:MapIterationSucceeded', '1:MapIterationFailed']);
    for (const host of [hosts.faildb, hosts.failapp]) {
      expect((await readVm(client, await vmOf(host))).powerState).toBe('poweredOff');
      expect(await hostState(host.hostId)).toBe('running');
    }
    const report = await runReport('waves-unhealthy');
    expect(report.status).toBe('rolled-back');
    expect(report.reason).toContain('HealthCheckFailedError');
  }, 240_000);

  it('an agent that stops answering in wave 2 (no heartbeat, also after retries) rolls the run back as AgentUnavailableError', async () => {
    const agent = env.site()?.agent();
    if (!agent) throw new Error('no agent running');
    let frozen = false;
    // A retried task no agent takes ends only at its TimeoutSeconds (no heartbeat is due before a worker has it).
    const agentSettings = {
      agent: {
        heartbeatSeconds: 1,
        unavailableAfterSeconds: 5,
        prepareTimeoutSeconds: 120,
        operationTimeoutSeconds: 10,
      },
    };
    const execution = env.machine.run(request(hosts.gonedb, hosts.goneapp, service.port, agentSettings), {
      executionName: 'waves-agent-gone',
      onEvent: (event) => {
        // Frozen as wave 2's Cutover is scheduled; back once the run reached RollbackOnPrem, which it then answers.
        if (event.type === 'StateEntered' && event.stateName === 'CutoverOnPrem' && event.mapIndex === 1) {
          frozen = true;
          agent.child.kill('SIGSTOP');
        }
        if (event.type === 'StateEntered' && event.stateName === 'RollbackOnPrem') agent.child.kill('SIGCONT');
      },
    });
    try {
      await approve(execution);
      const error = await execution.result.then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(ExecutionFailedError);
      expect((error as ExecutionFailedError).cause).toContain('AgentUnavailableError');
    } finally {
      agent.child.kill('SIGCONT');
    }
    expect(frozen).toBe(true);
    const caught = execution.history.flatMap((event) =>
      event.type === 'StateCaught' && event.stateName === 'CutoverWaves' ? [event.next] : [],
    );
    expect(caught).toEqual(['AgentUnavailable']);
    for (const host of [hosts.gonedb, hosts.goneapp]) {
      expect((await readVm(client, await vmOf(host))).powerState).toBe('poweredOff');
      expect(await hostState(host.hostId)).toBe('running');
    }
  }, 240_000);
});
