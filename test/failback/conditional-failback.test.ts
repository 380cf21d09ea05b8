import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrillTakeoverHost } from '../../cli/drill/takeover.js';
import { checkWorkloadWrites } from '../../cli/drill/verify.js';
import { createS3Client } from '../../core/adapters/aws/clients.js';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import { confirmationPage } from '../../core/approvals/page-html.js';
import { requestBlocks } from '../../core/approvals/slack-channel.js';
import type { Host } from '../../core/compute/port.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { runLayout } from '../../core/failback/run-state.js';
import { RunReport } from '../../core/failback/steps/report.js';
import { imageSha256 } from '../../core/image-digest.js';
import { conditionalAutomatedMethod } from '../../core/methods/conditional-automated.js';
import { ExecutionFailedError, type LocalExecution } from '../../core/orchestration/local-runner.js';
import { type LocalOnPremFailback, startLocalOnPremFailback } from '../../core/wiring/local-onprem.js';
import { statesEntered } from '../support/failback.js';

/**
 * statemachines/conditional-automated-failback.asl.json on the local runner, the manual platform: the local cloud,
 * the on-prem site's own S3 store (the passes' staging), and `homebound agent` as its own process answering the
 * Activity Tasks and applying the passes to image files.
 */

let dir: string;
const staged = { onPrem: new Map<string, number>(), cloud: new Map<string, number>() };
let env: LocalOnPremFailback;
const hosts: Record<'approved' | 'stalled' | 'rejected' | 'agentGone' | 'wavedDb' | 'wavedApp', Host> = {} as never;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-conditional-'));
  env = await startLocalOnPremFailback({
    method: conditionalAutomatedMethod,
    dir,
    platform: 'manual',
    waitMs: 50,
    retryIntervalMs: 20,
    agentHeartbeatTimeoutMs: 5000,
    // Counts, at each CheckApplied, the run's objects below runs/ in either store.
    stateHandlers: (bound) => ({
      CheckApplied: async (input, context) => {
        const runId = String((input as { runId?: unknown }).runId);
        const prefix = `runs/${runId}/`;
        staged.onPrem.set(runId, Math.max(staged.onPrem.get(runId) ?? 0, (await onPremStore().list(prefix)).length));
        // Not the StreamPass map's items and results: the state machine reads and writes those in the stack's
        // bucket (volume identities and stats, no block data).
        const cloud = (await env.deps.staging(prefix).list('')).filter((key) => !key.startsWith('stream-pass/')).length;
        staged.cloud.set(runId, Math.max(staged.cloud.get(runId) ?? 0, cloud));
        return bound('CheckApplied')(input, context);
      },
    }),
  });
  let seed = 21;
  for (const name of ['approved', 'stalled', 'rejected', 'agentGone', 'wavedDb', 'wavedApp'] as const) {
    hosts[name] = await createDrillTakeoverHost(env, {
      name,
      volumes: 2,
      sizeBytes: 4 * 1024 * 1024 + 4096,
      writesPerSecond: 20,
      seed: seed++,
    });
  }
  await env.startSite(Object.values(hosts).flatMap((host) => host.volumes.map((volume) => volume.volumeId)));
}, 120_000);

afterAll(async () => {
  await env?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function request(host: Host, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    method: 'conditional-automated',
    hosts: [host.hostId],
    target: { platform: 'manual' },
    convergence: { thresholdMiB: 64, maxPasses: 4 },
    approval: { timeoutSeconds: 120 },
    agent: { heartbeatSeconds: 1, unavailableAfterSeconds: 30, prepareTimeoutSeconds: 60, operationTimeoutSeconds: 60 },
    ...overrides,
  };
}

async function runReport(runId: string) {
  const record = env.deps.staging(runLayout.record(runId));
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

/** The next approval request, or the run's own error if it ends first (so a failed run fails its test at once). */
function nextApproval(execution: LocalExecution) {
  return Promise.race([
    env.approvals.next(),
    execution.result.then((output) => {
      throw new Error(`${execution.executionName} ended without asking for approval: ${JSON.stringify(output)}`);
    }),
  ]);
}

async function hostState(hostId: string) {
  const [host] = await env.compute.describeHosts({ hostIds: [hostId] });
  return host?.state;
}

/** The on-prem store, read with its own keys. */
function onPremStore() {
  const site = env.site();
  if (!site) throw new Error('the site is not started');
  const client = createS3Client({
    endpoint: site.store.s3Endpoint,
    region: site.store.region,
    credentials: site.store.credentials,
  });
  return new S3Staging(client, { bucket: site.store.bucket });
}

function diskOf(volumeId: string): string {
  const path = env.site()?.manualDisks[volumeId];
  if (!path) throw new Error(`no manual disk for ${volumeId}`);
  return path;
}

describe('conditional-automated failback (manual platform, agent as its own process)', () => {
  it('succeeds through approval and the operator confirmation: each target disk byte-identical to its takeover volume at stop', async () => {
    const host = hosts.approved;
    const execution = env.machine.run(request(host), { executionName: 'onprem-happy' });
    const approval = await nextApproval(execution);
    expect(approval.runId).toBe('onprem-happy');
    expect(await env.approvals.approve(approval.runId, 'test')).toBe(true);
    // The manual platform cannot see the hosts: a second wait asks a person to confirm they are up.
    const confirmation = await nextApproval(execution);
    expect(confirmation.runId).toBe('onprem-happy-hosts-up');
    // The page and Slack ask a person to confirm the hosts are up, with the agent's instructions.
    const pending = await env.approvals.store.get(confirmation.approvalId);
    if (!pending) throw new Error('the confirmation is not in the approval store');
    const page = confirmationPage(pending, 'email:operator@example.com', 'nonce');
    expect(page).toContain('Confirm the hosts are up');
    expect(page).toContain('power on the failback hosts');
    expect(JSON.stringify(requestBlocks(pending))).toContain('Confirm the hosts are up');
    expect(await env.approvals.approve(confirmation.runId, 'test')).toBe(true);
    const output = (await execution.result) as { status: string; passes: number };

    expect(output.status).toBe('succeeded');
    const entered = statesEntered(execution.history);
    for (const state of ['PrepareOnPremTarget', 'VerificationBootWaves', 'CutoverWaves', 'VerifyOnPrem']) {
      expect(entered).toContain(state);
    }
    expect(await hostState(host.hostId)).toBe('stopped');
    for (const volume of host.volumes) {
      expect(await imageSha256(diskOf(volume.volumeId))).toBe(await imageSha256(env.volumePath(volume.volumeId)));
    }
    const report = await runReport('onprem-happy');
    expect(report.status).toBe('succeeded');
    expect(report.passes.length).toBeGreaterThanOrEqual(3);
    expect(report.passes[0]?.kind).toBe('full');
    expect(report.passes.at(-1)?.final).toBe(true);
    // The passes were staged in the on-prem store (the agent acknowledged them there) and cleaned up there; the
    // cloud's bucket held the run's records only.
    expect(staged.onPrem.get('onprem-happy')).toBeGreaterThan(0);
    expect(staged.cloud.get('onprem-happy') ?? 0).toBe(0);
    expect(await onPremStore().list('runs/onprem-happy/')).toEqual([]);
    expect(await env.deps.staging(runLayout.root('onprem-happy')).list('')).toEqual([]);
  }, 150_000);

  it('retries a task whose agent stopped answering (States.HeartbeatTimeout); the agent, back, takes the retry and the run succeeds', async () => {
    const host = hosts.stalled;
    const agent = env.site()?.agent();
    if (!agent) throw new Error('no agent running');
    // Frozen with its long poll open: it is handed the task, then sends no heartbeat.
    agent.child.kill('SIGSTOP');
    let resumed = false;
    const execution = env.machine.run(request(host), {
      executionName: 'onprem-stalled',
      onEvent: (event) => {
        if (event.type === 'StateRetried' && event.stateName === 'PrepareOnPremTarget' && !resumed) {
          resumed = true;
          agent.child.kill('SIGCONT');
        }
      },
    });
    try {
      await env.approvals.approve((await nextApproval(execution)).runId, 'test');
      await env.approvals.approve((await nextApproval(execution)).runId, 'test');
      const output = (await execution.result) as { status: string };
      expect(output.status).toBe('succeeded');
    } finally {
      agent.child.kill('SIGCONT');
    }
    expect(resumed).toBe(true);
    const failed = execution.history.filter(
      (event) => event.type === 'StateFailed' && event.stateName === 'PrepareOnPremTarget',
    );
    expect(failed.map((event) => (event.type === 'StateFailed' ? event.error : ''))).toContain(
      'States.HeartbeatTimeout',
    );
    for (const volume of host.volumes) {
      expect(await imageSha256(diskOf(volume.volumeId))).toBe(await imageSha256(env.volumePath(volume.volumeId)));
    }
  }, 150_000);

  it('rolls back on rejection: the takeover host keeps serving with every write, the target disks are kept', async () => {
    const host = hosts.rejected;
    const execution = env.machine.run(request(host), { executionName: 'onprem-rejected' });
    const approval = await nextApproval(execution);
    await env.approvals.reject(approval.runId, 'test', 'not tonight');

    const error = await failure(execution);
    expect(error.error).toBe('FailbackRolledBack');
    expect(error.cause).toContain('cutover rejected: not tonight');
    const entered = statesEntered(execution.history);
    expect(entered).toContain('RollbackOnPrem');
    expect(entered).not.toContain('StopTakeoverHosts');
    expect(entered).not.toContain('CutoverWaves');
    expect(await hostState(host.hostId)).toBe('running');
    const writes = await checkWorkloadWrites(env, host);
    expect(writes.writes).toBeGreaterThan(0);
    expect(writes.lost).toEqual([]);
    for (const volume of host.volumes) expect((await stat(diskOf(volume.volumeId))).size).toBe(volume.sizeBytes);
    expect((await runReport('onprem-rejected')).status).toBe('rolled-back');
  }, 150_000);

  it('in waves: each wave is handed to the operator in order, one confirmation lists them wave by wave', async () => {
    const [db, app] = [hosts.wavedDb, hosts.wavedApp];
    const execution = env.machine.run(
      request(db, {
        hosts: [
          { id: db.hostId, wave: 1 },
          { id: app.hostId, wave: 2 },
        ],
      }),
      { executionName: 'onprem-waves' },
    );
    await env.approvals.approve((await nextApproval(execution)).runId, 'test');
    const confirmation = await nextApproval(execution);
    expect(confirmation.runId).toBe('onprem-waves-hosts-up');
    const pending = await env.approvals.store.get(confirmation.approvalId);
    const lines = pending?.summary.instructions?.split('\n') ?? [];
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^wave 1: .*power on the failback hosts \(wavedDb\)/);
    expect(lines[1]).toMatch(/^wave 2: .*power on the failback hosts \(wavedApp\)/);
    await env.approvals.approve(confirmation.runId, 'test');
    await expect(execution.result).resolves.toMatchObject({ status: 'succeeded' });

    const report = await runReport('onprem-waves');
    expect(report.waves?.map((wave) => [wave.wave, wave.hosts.map((host) => host.takeoverHostId)])).toEqual([
      [1, [db.hostId]],
      [2, [app.hostId]],
    ]);
    // Handed to a person, not checked: each wave has its start, none a healthy time.
    for (const wave of report.waves ?? []) {
      expect(wave.failbackStartedAt).toBeDefined();
      expect(wave.healthyAt).toBeUndefined();
    }
  }, 150_000);

  it('names AgentUnavailableError and rolls back when the agent is not running', async () => {
    const host = hosts.agentGone;
    await env.site()?.agent()?.stop('SIGKILL');
    const execution = env.machine.run(
      request(host, {
        agent: {
          heartbeatSeconds: 1,
          unavailableAfterSeconds: 5,
          prepareTimeoutSeconds: 10,
          operationTimeoutSeconds: 10,
        },
      }),
      { executionName: 'onprem-agent-gone' },
    );
    const error = await failure(execution);
    expect(error.error).toBe('FailbackRolledBack');
    expect(error.cause).toContain('AgentUnavailableError');
    expect(statesEntered(execution.history)).toEqual(expect.arrayContaining(['AgentUnavailable', 'Rollback']));
    expect(await hostState(host.hostId)).toBe('running');
    expect((await checkWorkloadWrites(env, host)).lost).toEqual([]);
  }, 90_000);
});
