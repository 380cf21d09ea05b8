import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { imageSha256 } from '../../core/image-digest.js';
import { AGENT_ARTIFACT_FILE, buildAgentArtifact } from '../../lib/agent-artifact.js';
import { collectOutput, stagePass, waitForAck } from '../gateway/helpers.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume } from '../support/volumes.js';
import { agentConfig, scheduleOperation } from './helpers.js';

/** The bundle, built once and copied alone into an empty directory: no node_modules anywhere above it. */
let bundle: string;
let dir: string;
let test: TestCloud;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-agent-artifact-'));
  const built = buildAgentArtifact(await mkdtemp(join(dir, 'build-')));
  await mkdir(join(dir, 'opt'));
  bundle = join(dir, 'opt', AGENT_ARTIFACT_FILE);
  await copyFile(built.path, bundle);
  test = await startTestCloud();
}, 120_000);
afterAll(async () => {
  await test?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('agent artifact (esbuild bundle of `homebound agent`)', () => {
  it('runs without node_modules and refuses a wrong config with exit 2 naming the field', async () => {
    const configPath = join(dir, 'bad.json');
    await writeFile(configPath, JSON.stringify({ ...agentConfig(test, join(dir, 'state'), {}), region: '' }));

    const help = spawnSync(process.execPath, [bundle, 'agent', '--help'], { cwd: dir, encoding: 'utf8' });
    const bad = spawnSync(process.execPath, [bundle, 'agent', '--config', configPath], { cwd: dir, encoding: 'utf8' });

    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('--config <file>');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/region: Too small/i);
    expect(bad.stderr).toMatch(/platform\.disks: name at least one disk/);
  });

  it('prepares a disk through the activity, applies a staged pass onto it, and stops on SIGTERM', async () => {
    const sizeBytes = 12 * BLOCK_SIZE;
    const target = join(dir, 'target.img');
    const source = join(dir, 'source.img');
    await makeVolume(source, sizeBytes, { 0: 'random', 5: 'random', 11: 0x17 });
    const configPath = join(dir, 'agent.json');
    await writeFile(
      configPath,
      JSON.stringify(agentConfig(test, join(dir, 'state'), { 'vol-0aaa': { path: target, create: true } })),
    );
    const child = spawn(process.execPath, [bundle, 'agent', '--config', configPath], {
      cwd: dir,
      env: { ...process.env, ...test.cloud.env() },
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const stderr = collectOutput(child.stderr);
    try {
      const activityArn = Object.values(test.cloud.activityArns)[0] ?? '';
      const prepared = await scheduleOperation(test.cloud.activities, activityArn, {
        operation: 'PrepareTarget',
        runId: 'run-bundle',
        hosts: [{ hostId: 'i-1', name: 'db', instanceType: 't3.small', vCpus: 2, memoryMiB: 2048 }],
        volumes: [{ hostId: 'i-1', volumeId: 'vol-0aaa', volumeKey: 'db', sizeBytes }],
      });
      const staging = test.stagingAt(STAGING_BUCKET, 'runs/run-bundle/volumes/');
      await stagePass({ store: test.cloud.store, source: test.source, staging }, source, {
        volumeKey: 'db',
        passNumber: 1,
        sizeBytes,
      });
      const ack = await waitForAck(test.stagingAt(STAGING_BUCKET, 'runs/run-bundle/agent/volumes/'), 'db', 1);
      await stderr.waitFor(/db: applied pass 1/);
      child.kill('SIGTERM');

      expect(prepared).toMatchObject({ disks: [{ path: target, created: true }] });
      expect(ack).toMatchObject({ volumeKey: 'db', passNumber: 1, target });
      expect(await imageSha256(target)).toBe(await imageSha256(source));
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
