import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOriginalVms, preFailbackHashes, seedingOf } from '../../cli/drill/original-vms.js';
import type { OnPremDrillReport } from '../../cli/drill/run-onprem-drill.js';
import { createDrillTakeoverHost } from '../../cli/drill/takeover.js';
import { createS3Client } from '../../core/adapters/aws/clients.js';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import type { Host } from '../../core/compute/port.js';
import { ACK_KEY, passPrefix } from '../../core/engine/layout.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { runLayout } from '../../core/failback/run-state.js';
import { RunReport } from '../../core/failback/steps/report.js';
import { imageSha256 } from '../../core/image-digest.js';
import type { OnPremSite } from '../../core/localcloud/onprem-site.js';
import { conditionalAutomatedMethod } from '../../core/methods/conditional-automated.js';
import type { LocalRunEvent } from '../../core/orchestration/local-runner.js';
import { type LocalOnPremFailback, startLocalOnPremFailback } from '../../core/wiring/local-onprem.js';
import { runCli } from '../support/cli.js';

const MiB = 2 ** 20;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-drill-seeded-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('homebound drill --method conditional-automated --reuse-original', () => {
  it('fails back onto the original VM: first pass seeded, staging only what differs, its pre-failback state preserved', async () => {
    const json = join(dir, 'seeded.json');
    const result = await runCli([
      'drill',
      ...['--method', 'conditional-automated', '--reuse-original', '--divergence-pct', '5'],
      // One write a second: the cloud's writes before pass 1 stay well below a fifth of the blocks on a loaded machine.
      ...['--volumes', '2', '--size-mib', '32', '--writes-per-second', '1', '--max-passes', '4'],
      ...['--auto-approve', '--json', json],
    ]);

    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as OnPremDrillReport;
    expect(report.status).toBe('succeeded');
    expect(report.verified).toBe(true);
    for (const volume of report.volumes) expect(volume.identical).toBe(true);
    expect(report.writes.lost).toEqual([]);
    // The failback VM is the original VM itself, on its own disks.
    expect(report.vms.map((vm) => [vm.name, vm.powerState])).toEqual([['drill-app', 'poweredOn']]);
    expect(report.vms[0]?.disks.map((disk) => disk.datastorePath)).toEqual(
      report.volumes.map((volume) => `[LocalDS_0] homebound-drill-originals/${volume.volumeId}.vmdk`),
    );
    const [first] = report.passes;
    const seeding = report.seeding;
    expect(first?.kind).toBe('seeded');
    expect(report.firstPass?.kind).toBe('seeded');
    // The progress lines (stderr) name the pass as StreamPass planned it (the state says `full`).
    expect(result.stderr).toMatch(/pass 1 \(seeded\): \d+ blocks/);
    expect(first?.blocksCompared).toBeGreaterThan(0);
    expect(first?.blocksDiffering).toBeGreaterThan(0);
    expect(seeding?.divergencePct).toBe(5);
    expect(seeding?.expectedDifferingBytes).toBeGreaterThan(0);
    expect(first?.bytesStaged).toBeLessThanOrEqual(1.1 * (seeding?.expectedDifferingBytes ?? 0));
    expect(first?.bytesStaged).toBeLessThan((2 * 32 * MiB) / 5);
    // Each seed disk's copy holds its bytes from before the run, checked by the drill against its own hash.
    expect(seeding?.preserved).toHaveLength(2);
    for (const entry of seeding?.preserved ?? []) expect(entry.intact).toBe(true);
    expect(seeding?.preservedAs).toEqual([
      `[LocalDS_0] homebound-preserved/${report.runId}/drill-app/disk-0.vmdk`,
      `[LocalDS_0] homebound-preserved/${report.runId}/drill-app/disk-1.vmdk`,
    ]);
    expect(result.stdout).toMatch(/pre-failback state kept as \[LocalDS_0\] homebound-preserved\//);
  }, 240_000);
});

describe('homebound drill --method conditional-automated --reuse-original, other endings', () => {
  it('--reject rolls back leaving the seed as written, the original VM off, its pre-failback state kept and how to restore it said', async () => {
    const json = join(dir, 'seeded-reject.json');
    const result = await runCli([
      'drill',
      ...['--method', 'conditional-automated', '--reuse-original', '--volumes', '1', '--size-mib', '16'],
      ...['--writes-per-second', '4', '--max-passes', '3', '--reject', '--json', json],
    ]);

    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as OnPremDrillReport;
    expect(report.status).toBe('rolled-back');
    expect(report.verified).toBe(true);
    expect(report.passes[0]?.kind).toBe('seeded');
    expect(report.vms.map((vm) => [vm.name, vm.powerState])).toEqual([['drill-app', 'poweredOff']]);
    expect(report.seeding?.preserved.map((entry) => entry.intact)).toEqual([true]);
    expect(result.stdout).toContain(
      'to return the original VM to its pre-failback state, copy each preserved disk back',
    );
  }, 180_000);

  it('an unrelated seed (--seed-unrelated) still ends identical, with the warning that it saved nothing', async () => {
    const json = join(dir, 'seeded-unrelated.json');
    const result = await runCli([
      'drill',
      ...['--method', 'conditional-automated', '--reuse-original', '--seed-unrelated'],
      ...['--volumes', '1', '--size-mib', '16', '--writes-per-second', '4', '--max-passes', '3'],
      ...['--auto-approve', '--json', json],
    ]);

    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as OnPremDrillReport;
    expect(report.status).toBe('succeeded');
    expect(report.verified).toBe(true);
    expect(report.volumes.every((volume) => volume.identical)).toBe(true);
    expect(report.passes[0]?.kind).toBe('seeded');
    // Every listed block differs, and so does every block only the (random) seed holds: it becomes zeros.
    expect(report.passes[0]?.blocksDiffering).toBeGreaterThanOrEqual(report.passes[0]?.blocksCompared ?? Infinity);
    expect(report.seeding?.divergencePct).toBe(100);
    expect(report.seeding?.warnings?.join('\n')).toMatch(/saved nothing/);
    const manual = await runCli([
      ...['drill', '--method', 'conditional-automated', '--platform', 'manual', '--reuse-original', '--auto-approve'],
    ]);
    expect(manual.code).toBe(2);
    expect(manual.stderr).toContain('--reuse-original needs --platform vsphere');
  }, 180_000);
});

describe('the agent SIGKILLed in a seeded run (vsphere, seed VMs on vcsim)', () => {
  let env: LocalOnPremFailback;
  let site: OnPremSite;
  const hosts: Host[] = [];
  let onSealed: ((runId: string, passNumber: number) => void) | undefined;
  beforeAll(async () => {
    env = await startLocalOnPremFailback({
      method: conditionalAutomatedMethod,
      dir: join(dir, 'sigkill'),
      platform: 'vsphere',
      waitMs: 50,
      retryIntervalMs: 20,
      // A task whose agent was killed is retried once this passes without a heartbeat (the agent beats every 1 s).
      agentHeartbeatTimeoutMs: 4000,
      stateHandlers: (bound) => ({
        StreamVolumePass: async (input, context) => {
          const output = await bound('StreamVolumePass')(input, context);
          const { runId, passNumber } = input as { runId?: unknown; passNumber?: unknown };
          if ((output as { done?: unknown }).done === true) onSealed?.(String(runId), Number(passNumber));
          return output;
        },
      }),
    });
    for (const [i, name] of ['kill-apply', 'kill-prepare'].entries()) {
      hosts.push(
        await createDrillTakeoverHost(env, { name, volumes: 1, sizeBytes: 24 * MiB, writesPerSecond: 4, seed: 5 + i }),
      );
    }
    site = await env.startSite(hosts.flatMap((host) => host.volumes.map((volume) => volume.volumeId)));
  }, 120_000);
  afterAll(async () => {
    await env?.stop();
  });

  /** Runs the host's failback onto its original VM, approving the cutover; its status and pass-1 kind. */
  async function seededRun(runId: string, host: Host, seedVm: string, onEvent?: (event: LocalRunEvent) => void) {
    const execution = env.machine.run(
      {
        method: 'conditional-automated',
        hosts: [{ id: host.hostId, failback: { seed: { vm: seedVm } } }],
        target: { platform: 'vsphere', powerOffSeed: true },
        convergence: { thresholdMiB: 64, maxPasses: 3 },
        approval: { timeoutSeconds: 120 },
        agent: {
          heartbeatSeconds: 1,
          unavailableAfterSeconds: 30,
          prepareTimeoutSeconds: 60,
          operationTimeoutSeconds: 60,
        },
      },
      { executionName: runId, ...(onEvent ? { onEvent } : {}) },
    );
    // vSphere confirms its hosts itself: the cutover approval is the only question.
    await env.approvals.approve((await env.approvals.next()).runId, 'test');
    const output = (await execution.result) as { status: string };
    const report = parseStagedJson(
      RunReport,
      await env.deps.staging(runLayout.record(runId)).get(runLayout.reportKey),
      'report.json',
    );
    return { status: output.status, firstPass: report.passes[0]?.kind, history: execution.history };
  }

  /** SIGKILLs the site's agent and starts it again after 300 ms. */
  async function killAgent(): Promise<void> {
    const agent = site.agent();
    if (!agent) throw new Error('no agent running to kill');
    const exit = await agent.stop('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await site.startAgent();
  }

  it('killed in the seeded pass: resumes from its journal and ends byte-identical, the seed never hashed again', async () => {
    const host = hosts[0] as Host;
    const originals = await createOriginalVms(env, site, [host], {
      divergencePct: 10,
      seed: 5,
      vCpus: 2,
      memoryMiB: 8192,
    });
    const runId = 'seeded-kill-apply';
    const store = new S3Staging(
      createS3Client({
        endpoint: site.store.s3Endpoint,
        region: site.store.region,
        credentials: site.store.credentials,
      }),
      { bucket: site.store.bucket },
    );
    const volumeKey = host.volumes[0]?.volumeId ?? '';
    let kill: Promise<{ unackedAtKill: boolean }> | undefined;
    onSealed = (sealedRun, passNumber) => {
      if (sealedRun !== runId || passNumber !== 1) return;
      kill ??= (async () => {
        const agent = site.agent();
        await killAgent();
        // Read after the kill: a pass 1 with no ack then was not applied whole when the agent died.
        const unackedAtKill = !(await store.head(`runs/${runId}/agent/volumes/${passPrefix(volumeKey, 1)}${ACK_KEY}`));
        expect(agent?.log()).toContain(`${runId}: PrepareTarget`);
        return { unackedAtKill };
      })();
    };

    const run = await seededRun(runId, host, originals.vms[0]?.vm ?? '');
    onSealed = undefined;

    expect(run.status).toBe('succeeded');
    expect(run.firstPass).toBe('seeded');
    expect((await kill)?.unackedAtKill).toBe(true);
    const flat = originals.vms[0]?.disks[0]?.flatPath ?? '';
    expect(await imageSha256(flat)).toBe(await imageSha256(env.volumePath(volumeKey)));
    // The restarted agent followed the run from its record: it took no PrepareTarget again, so hashed nothing again.
    expect(site.agent()?.log()).toContain(`${runId}: following`);
    expect(site.agent()?.log()).not.toContain(`${runId}: PrepareTarget`);
  }, 240_000);

  it('killed while PrepareTarget copies and hashes the seed: the retried task preserves and hashes it again, ends byte-identical', async () => {
    const host = hosts[1] as Host;
    const originals = await createOriginalVms(env, site, [host], {
      divergencePct: 10,
      seed: 6,
      vCpus: 2,
      memoryMiB: 8192,
    });
    const before = await preFailbackHashes(originals);
    const runId = 'seeded-kill-prepare';
    let kill: Promise<void> | undefined;

    const run = await seededRun(runId, host, originals.vms[0]?.vm ?? '', (event) => {
      if (event.type !== 'StateEntered' || event.stateName !== 'PrepareOnPremTarget') return;
      kill ??= (async () => {
        await site.agent()?.waitForLog(new RegExp(`${runId}: PrepareTarget started`), 30_000);
        await new Promise((resolve) => setTimeout(resolve, 20));
        await killAgent();
      })();
    });

    expect(run.status).toBe('succeeded');
    expect(run.firstPass).toBe('seeded');
    await kill;
    // The kill landed in PrepareTarget: its task was lost and the state machine ran it again.
    const lostTask = run.history.some(
      (event) =>
        event.type === 'StateFailed' &&
        event.stateName === 'PrepareOnPremTarget' &&
        event.error === 'States.HeartbeatTimeout',
    );
    expect(lostTask).toBe(true);
    const volumeId = host.volumes[0]?.volumeId ?? '';
    const flat = originals.vms[0]?.disks[0]?.flatPath ?? '';
    expect(await imageSha256(flat)).toBe(await imageSha256(env.volumePath(volumeId)));
    // Whether the kill cut the copy, the hash or neither, the preserved copy holds the disk as it was before the run.
    const seeding = await seedingOf(env, site, originals, runId, before);
    expect(seeding.preserved.map((entry) => entry.intact)).toEqual([true]);
  }, 240_000);
});
