import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { imageSha256 } from '../../core/image-digest.js';
import { createVolume } from '../../core/localcloud/local-volume.js';
import { buildGatewayArtifact, GATEWAY_ARTIFACT_FILE } from '../../lib/gateway-artifact.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume } from '../support/volumes.js';
import { collectOutput, gatewayConfig, gatewayRecords, stagePass, TEST_INSTANCE_ARN, waitForAck } from './helpers.js';

const VOLUME_ID = 'vol-0a1b2c3d4e5f60718';

/** The bundle, built once and copied alone into an empty directory: no node_modules anywhere above it. */
let bundle: string;
let built: { path: string; sha256: string };
let dir: string;
let test: TestCloud;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-gateway-artifact-'));
  built = buildGatewayArtifact(await mkdtemp(join(dir, 'build-')));
  await mkdir(join(dir, 'opt'));
  bundle = join(dir, 'opt', GATEWAY_ARTIFACT_FILE);
  await copyFile(built.path, bundle);
  test = await startTestCloud();
}, 120_000);
afterAll(async () => {
  await test?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('sync gateway artifact (esbuild bundle of `homebound gateway`)', () => {
  it('is one file whose SHA-256 is the one reported, runnable without node_modules', async () => {
    const sha256 = createHash('sha256')
      .update(await readFile(bundle))
      .digest('hex');
    expect(sha256).toBe(built.sha256);

    const help = spawnSync(process.execPath, [bundle, 'gateway', '--help'], { cwd: dir, encoding: 'utf8' });

    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('--config <file>');
    expect(help.stdout).toContain('--state-dir <dir>');
  });

  it('refuses a missing config with exit 3 and a message naming the file', () => {
    const run = spawnSync(
      process.execPath,
      [bundle, 'gateway', '--config', join(dir, 'none.json'), '--state-dir', join(dir, 'state')],
      { cwd: dir, encoding: 'utf8' },
    );

    expect(run.status).toBe(3);
    expect(run.stderr).toContain(`cannot read --config ${join(dir, 'none.json')}`);
  });

  it('applies a staged pass from the local cloud onto its volume, acks it, and stops on SIGTERM', async () => {
    const sizeBytes = 12 * BLOCK_SIZE;
    const prefix = 'runs/artifact/';
    const configPath = join(dir, 'gateway.json');
    const config = gatewayConfig(prefix, [{ volumeKey: 'db', volumeId: VOLUME_ID, sizeBytes }]);
    await writeFile(configPath, JSON.stringify(config));
    const devices = join(dir, 'devices');
    await mkdir(devices);
    const source = join(dir, 'source.img');
    const target = join(dir, 'target.img');
    await makeVolume(source, sizeBytes, { 0: 'random', 5: 'random', 11: 0x17 });
    await createVolume(target, sizeBytes);
    await symlink(target, join(devices, VOLUME_ID));
    const staging = test.stagingAt(STAGING_BUCKET, prefix);

    const child = spawn(
      process.execPath,
      [
        bundle,
        'gateway',
        '--config',
        configPath,
        '--state-dir',
        join(dir, 'state'),
        '--device-dir',
        devices,
        '--instance-arn',
        TEST_INSTANCE_ARN,
      ],
      { cwd: dir, env: { ...process.env, ...test.cloud.env() } },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const stderr = collectOutput(child.stderr);
    try {
      await stagePass({ store: test.cloud.store, source: test.source, staging }, source, {
        volumeKey: 'db',
        passNumber: 1,
        sizeBytes,
      });
      const ack = await waitForAck(gatewayRecords(test.stagingAt, config), 'db', 1);
      await stderr.waitFor(/db: applied pass 1/);
      child.kill('SIGTERM');

      expect(ack).toMatchObject({ volumeKey: 'db', passNumber: 1 });
      expect(await imageSha256(target)).toBe(await imageSha256(source));
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
