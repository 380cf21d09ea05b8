import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { ACK_KEY, passPrefix, segmentKey } from '../../core/engine/layout.js';
import { readApplyError } from '../../core/gateway/apply-error.js';
import { imageSha256 } from '../../core/image-digest.js';
import { createVolume } from '../../core/localcloud/local-volume.js';
import { startCli } from '../support/cli.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume, writeBlock } from '../support/volumes.js';
import { collectOutput, gatewayConfig, gatewayRecords, stagePass, TEST_INSTANCE_ARN, waitForAck } from './helpers.js';

const VOLUME_ID = 'vol-0123456789abcdef0';

describe('homebound gateway (the process on a sync gateway instance)', () => {
  let test: TestCloud;
  let dir: string;
  const children: ReturnType<typeof startCli>['child'][] = [];
  beforeAll(async () => {
    test = await startTestCloud();
  });
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  afterAll(() => test.stop());

  async function startGateway(prefix: string, sizeBytes: number) {
    dir = await mkdtemp(join(test.dir, 'gw-'));
    const configPath = join(dir, 'gateway.json');
    const config = gatewayConfig(prefix, [{ volumeKey: 'db', volumeId: VOLUME_ID, sizeBytes }]);
    await writeFile(configPath, JSON.stringify(config));
    const devices = join(dir, 'devices');
    await mkdir(devices);
    const args = [
      'gateway',
      '--config',
      configPath,
      '--state-dir',
      join(dir, 'state'),
      '--device-dir',
      devices,
      '--instance-arn',
      TEST_INSTANCE_ARN,
    ];
    const gateway = startCli(args, test.cloud.env());
    children.push(gateway.child);
    const stderr = collectOutput(gateway.child.stderr);
    const records = gatewayRecords(test.stagingAt, config);
    return { ...gateway, stderr, devices, staging: test.stagingAt(STAGING_BUCKET, prefix), records };
  }

  it('waits for its device, applies two passes as they are staged, acks each, and stops cleanly on SIGTERM', async () => {
    const sizeBytes = 20 * BLOCK_SIZE + 4096;
    const { child, done, stderr, devices, staging, records } = await startGateway('runs/two-passes/', sizeBytes);
    const source = join(dir, 'source.img');
    const targetImage = join(dir, 'target.img');
    await makeVolume(source, sizeBytes, { 0: 'random', 3: 'random', 7: 0x42, 20: 'random' });
    await createVolume(targetImage, sizeBytes);

    await stderr.waitFor(/db: waiting for its device/);
    await symlink(targetImage, join(devices, VOLUME_ID));
    const env = { store: test.cloud.store, source: test.source, staging };
    const first = await stagePass(env, source, { volumeKey: 'db', passNumber: 1, sizeBytes });
    const firstAck = await waitForAck(records, 'db', 1);
    expect(await imageSha256(targetImage)).toBe(await imageSha256(source));

    await writeBlock(source, sizeBytes, 3, 'random');
    await writeBlock(source, sizeBytes, 7, 'zero');
    await writeBlock(source, sizeBytes, 12, 'random');
    await stagePass(env, source, { volumeKey: 'db', passNumber: 2, sizeBytes, base: first });
    const secondAck = await waitForAck(records, 'db', 2);
    const logged = await stderr.waitFor(/db: applied pass 2: 3 blocks, 1\.5 MiB, [\d.]+ s/);
    child.kill('SIGTERM');
    const exit = await done;

    expect(firstAck).toMatchObject({ volumeKey: 'db', passNumber: 1, snapshotId: first });
    expect(secondAck).toMatchObject({ volumeKey: 'db', passNumber: 2, blocksWritten: 3 });
    expect(await imageSha256(targetImage)).toBe(await imageSha256(source));
    expect(logged).toMatch(/db: applied pass 1: 4 blocks/);
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).toMatch(/homebound gateway: stopped/);
    // Only below its own instance ARN: nothing next to the staged passes, where its role may not write.
    expect(await staging.head(passPrefix('db', 1) + ACK_KEY)).toBeUndefined();
  });

  it('records a corrupt staged segment as apply-error.json, leaves the target untouched and exits non-zero', async () => {
    const sizeBytes = 8 * BLOCK_SIZE;
    const prefix = 'runs/corrupt/';
    const staging = test.stagingAt(STAGING_BUCKET, prefix);
    dir = await mkdtemp(join(test.dir, 'gw-'));
    const source = join(dir, 'source.img');
    await makeVolume(source, sizeBytes, { 0: 'random', 1: 'random', 5: 'random' });
    await stagePass({ store: test.cloud.store, source: test.source, staging }, source, {
      volumeKey: 'db',
      passNumber: 1,
      sizeBytes,
    });
    const segment = passPrefix('db', 1) + segmentKey(0, 0);
    const body = await staging.get(segment);
    body[body.length - 100] = (body[body.length - 100] ?? 0) ^ 0xff;
    await staging.put(segment, body);
    await rm(dir, { recursive: true, force: true });

    const { done, devices, records } = await startGateway(prefix, sizeBytes);
    const targetImage = join(dir, 'target.img');
    await createVolume(targetImage, sizeBytes);
    const blank = await imageSha256(targetImage);
    await symlink(targetImage, join(devices, VOLUME_ID));
    const exit = await done;
    const record = await readApplyError(records, 'db', 1);

    expect(exit.code).toBe(3);
    expect(exit.stderr).toMatch(/CorruptSegmentError/);
    expect(record).toMatchObject({ volumeKey: 'db', passNumber: 1, error: 'CorruptSegmentError' });
    expect(record?.message).toContain(segmentKey(0, 0));
    expect(await imageSha256(targetImage)).toBe(blank);
  });
});
