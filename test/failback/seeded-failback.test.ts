import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DrillOriginals } from '../../cli/drill/reuse-original.js';
import { createDrillTakeoverHost } from '../../cli/drill/takeover.js';
import { compareVolumes } from '../../cli/drill/verify.js';
import { MANIFEST_KEY, passPrefix } from '../../core/engine/layout.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { StagedObjectMissingError } from '../../core/errors.js';
import { progressLayout, VolumeProgress } from '../../core/failback/progress.js';
import { RUN_TAG, runLayout } from '../../core/failback/run-state.js';
import { PassRecord } from '../../core/failback/steps/record-pass.js';
import { RunReport } from '../../core/failback/steps/report.js';
import { automatedMethod } from '../../core/methods/automated.js';
import { ExecutionFailedError } from '../../core/orchestration/local-runner.js';
import { type LocalFailback, startLocalFailback } from '../../core/wiring/local.js';

/** The seeded automated method end to end on the local cloud, below the drill: a refused seed, a killed gateway. */

let dir: string;
let env: LocalFailback;
const gatewayLines: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-seeded-'));
  gatewayLines.length = 0;
  env = await startLocalFailback({
    method: automatedMethod,
    dir,
    waitMs: 50,
    retryIntervalMs: 20,
    onGatewayOutput: (line) => {
      gatewayLines.push(line);
      onLine?.(line);
    },
  });
});
afterEach(async () => {
  onLine = undefined;
  await env.stop();
  await rm(dir, { recursive: true, force: true });
});

let onLine: ((line: string) => void) | undefined;

const MiB = 1024 * 1024;

function request(hostId: string, seed: unknown) {
  return {
    method: 'automated',
    hosts: [{ id: hostId, failback: { seed } }],
    target: { platform: 'aws', region: 'local', powerOffSeed: true },
    convergence: { thresholdMiB: 64, maxPasses: 3 },
    approval: { timeoutSeconds: 120 },
  };
}

async function approveWhenAsked(runId: string): Promise<void> {
  const asked = await env.approvals.next();
  expect(asked.runId).toBe(runId);
  expect(await env.approvals.approve(runId, 'test')).toBe(true);
}

describe('a seeded automated failback on the local cloud', () => {
  it('refuses a seed smaller than its volume at ValidateRequest, creating nothing', async () => {
    const host = await createDrillTakeoverHost(env, {
      name: 'app',
      volumes: 1,
      sizeBytes: 4 * MiB,
      writesPerSecond: 1,
      seed: 3,
    });
    const small = await env.compute.createTakeoverHost({
      name: 'original',
      volumes: [{ sizeBytes: 2 * MiB, tags: env.compute.seedOptIn }],
      tags: env.compute.seedOptIn,
      writesPerSecond: 0,
    });
    const hostsBefore = await env.compute.describeHosts();
    const snapshotsBefore = await env.cloud.store.list();

    const execution = env.machine.run(request(host.hostId, { volumes: [{ volumeId: small.volumes[0]?.volumeId }] }), {
      executionName: 'small-seed',
    });
    const error = await execution.result.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    expect(error).toBeInstanceOf(ExecutionFailedError);
    const failed = (error as ExecutionFailedError).cause ?? '';
    expect(failed).toMatch(/SeedTooSmallError|hosts\[0\]\.failback\.seed\.volumes\[0\]\.volumeId/);
    expect(JSON.stringify(execution.history)).toContain('SeedTooSmallError');
    expect(await env.compute.describeHosts()).toEqual(hostsBefore);
    expect(await env.cloud.store.list()).toEqual(snapshotsBefore);
    expect(await env.compute.describeHosts({ tag: { key: RUN_TAG, value: 'small-seed' } })).toEqual([]);
  });

  it('refuses a seed volume without the deployment’s opt-in tag at ValidateRequest, naming the tag', async () => {
    const host = await createDrillTakeoverHost(env, {
      name: 'app',
      volumes: 1,
      sizeBytes: MiB,
      writesPerSecond: 1,
      seed: 4,
    });
    const untagged = await env.compute.createTakeoverHost({
      name: 'original',
      volumes: [{ sizeBytes: MiB }],
      writesPerSecond: 0,
    });

    const execution = env.machine.run(
      request(host.hostId, { volumes: [{ volumeId: untagged.volumes[0]?.volumeId }] }),
      { executionName: 'untagged-seed' },
    );
    const error = await execution.result.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    expect(error).toBeInstanceOf(ExecutionFailedError);
    expect(JSON.stringify(execution.history)).toMatch(
      /hosts\[0\]\.failback\.seed\.volumes\[0\]\.volumeId: volume vol-\w+ is not tagged homebound:seed-for=homebound-local/,
    );
    expect(await env.compute.describeHosts({ tag: { key: RUN_TAG, value: 'untagged-seed' } })).toEqual([]);
  });

  it('resumes after its gateway is SIGKILLed once its seed is published and again mid seeded pass, and ends identical', async () => {
    const host = await createDrillTakeoverHost(env, {
      name: 'app',
      volumes: 1,
      sizeBytes: 16 * MiB,
      writesPerSecond: 2,
      seed: 5,
    });
    const originals = await DrillOriginals.create(env, [host], { divergencePct: 5, seed: 5 });
    const runId = 'killed-gateway';
    const volumeKey = host.volumes[0]?.volumeId ?? '';
    let pid: number | undefined;
    let starts = 0;
    const kills: string[] = [];
    onLine = (line) => {
      const started = /gateway started \(pid (\d+)\)/.exec(line);
      if (started) {
        pid = Number(started[1]);
        starts += 1;
      }
      // Kill 1: the seed is hashed and published and the journal starts at it; the seeded pass is not applied.
      if (kills.length === 0 && /ready, at pass 0/.test(line) && pid !== undefined) {
        kills.push('after the seed was published');
        process.kill(pid, 'SIGKILL');
      }
    };
    // Kill 2: the seeded pass is sealed and the restarted gateway is up, opening its journal or applying the pass.
    const staged = env.deps.staging(runLayout.volumes(runId));
    // What `homebound status` reads: the volume's progress record once pass 1 is sealed.
    const progressKinds: (string | undefined)[] = [];
    const passOneProgressKind = async () => {
      const records = env.deps.staging(runLayout.record(runId));
      for (let tries = 0; tries < 200; tries++) {
        const progress = await records.get(progressLayout.key(volumeKey)).then(
          (body) => parseStagedJson(VolumeProgress, body, 'progress'),
          () => undefined,
        );
        if (progress?.passNumber === 1 && progress.phase === 'staged') return progress.kind;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      return undefined;
    };
    const watcher = (async () => {
      for (let tries = 0; tries < 1200; tries++) {
        const sealed = await staged.get(`${passPrefix(volumeKey, 1)}${MANIFEST_KEY}`).then(
          () => true,
          (error: unknown) => {
            if (error instanceof StagedObjectMissingError) return false;
            throw error;
          },
        );
        if (sealed && kills.length === 1 && starts === 2 && pid !== undefined) {
          kills.push('mid seeded pass');
          process.kill(pid, 'SIGKILL');
          progressKinds.push(await passOneProgressKind());
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();

    const execution = env.machine.run(request(host.hostId, originals.seedOf(host.hostId)), { executionName: runId });
    await Promise.all([execution.result, approveWhenAsked(runId)]);
    await watcher;

    expect(kills).toEqual(['after the seed was published', 'mid seeded pass']);
    // Named as planned: before, the record said `full` while a seeded pass streamed.
    expect(progressKinds).toEqual(['seeded']);
    expect([...env.gatewayRestarts.values()].reduce((sum, count) => sum + count, 0)).toBe(2);
    // Hashed once: the restarted gateway found its journal and never hashed the (partly overwritten) seed again.
    expect(gatewayLines.filter((line) => line.includes(`${volumeKey}: hashing its seed`))).toHaveLength(1);
    const record = env.deps.staging(runLayout.record(runId));
    const first = parseStagedJson(PassRecord, await record.get(runLayout.passRecordKey(1)), 'pass 1');
    expect(first.kind).toBe('seeded');
    const report = parseStagedJson(RunReport, await record.get(runLayout.reportKey), 'report');
    expect(report.status).toBe('succeeded');
    const volumes = await compareVolumes(env, report.volumes);
    expect(volumes.map((volume) => volume.identical)).toEqual([true]);
  }, 120_000);
});
