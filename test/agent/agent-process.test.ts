import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { ACK_KEY, passPrefix } from '../../core/engine/layout.js';
import { hasValidMac } from '../../core/engine/run-key.js';
import { readHeartbeat } from '../../core/gateway/heartbeat.js';
import { imageSha256 } from '../../core/image-digest.js';
import { createVolume } from '../../core/localcloud/local-volume.js';
import type { JsonObject } from '../../core/orchestration/json.js';
import { stagePass, waitForAck } from '../gateway/helpers.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume, writeBlock } from '../support/volumes.js';
import { agentConfig, scheduleOperation, startAgent } from './helpers.js';

const MiB = 2 ** 20;
const HOST = { hostId: 'i-0abc', name: 'db', instanceType: 'm5.large', vCpus: 2, memoryMiB: 8192 };

describe('homebound agent (the on-prem agent process)', () => {
  let test: TestCloud;
  let dir: string;
  let activityArn: string;
  const children: Awaited<ReturnType<typeof startAgent>>['child'][] = [];
  beforeAll(async () => {
    test = await startTestCloud();
    activityArn = Object.values(test.cloud.activityArns)[0] ?? '';
  });
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  afterAll(() => test.stop());

  async function launch(disks: Record<string, { path: string; create?: boolean }>) {
    const config = agentConfig(test, join(dir, 'state'), disks);
    const agent = await startAgent(test, dir, config);
    children.push(agent.child);
    await agent.stderr.waitFor(/polling /);
    return agent;
  }

  const run = (operation: string, fields: JsonObject) =>
    scheduleOperation(test.cloud.activities, activityArn, { operation, ...fields });

  it('prepares image files, applies a staged pass with signed acks and heartbeat, stops following at cutover, stops on SIGTERM', async () => {
    dir = await mkdtemp(join(test.dir, 'agent-'));
    const runId = 'run-prepare';
    const runKey = randomBytes(32);
    const sizeBytes = 12 * BLOCK_SIZE;
    const existing = join(dir, 'existing.img');
    const created = join(dir, 'created.img');
    await createVolume(existing, sizeBytes + MiB);
    const agent = await launch({ 'vol-0aaa': { path: existing }, 'vol-0bbb': { path: created, create: true } });

    const prepared = await run('PrepareTarget', {
      runId,
      hosts: [HOST],
      volumes: [
        { hostId: HOST.hostId, volumeId: 'vol-0aaa', volumeKey: 'db-root', sizeBytes },
        { hostId: HOST.hostId, volumeId: 'vol-0bbb', volumeKey: 'db-data', sizeBytes },
      ],
      heartbeat: { intervalSeconds: 1 },
      ackKey: runKey.toString('hex'),
    });
    expect(prepared).toMatchObject({
      operation: 'PrepareTarget',
      platform: 'manual',
      following: true,
      disks: [
        { volumeId: 'vol-0aaa', volumeKey: 'db-root', path: existing, created: false },
        { volumeId: 'vol-0bbb', volumeKey: 'db-data', path: created, sizeBytes, created: true },
      ],
    });
    expect((await stat(created)).size).toBe(sizeBytes);

    const staging = test.stagingAt(STAGING_BUCKET, `runs/${runId}/volumes/`);
    const env = { store: test.cloud.store, source: test.source, staging };
    const sources = { 'db-root': join(dir, 'root-src.img'), 'db-data': join(dir, 'data-src.img') };
    await makeVolume(sources['db-root'], sizeBytes, { 0: 'random', 5: 'random', 11: 0x33 });
    await makeVolume(sources['db-data'], sizeBytes, { 1: 'random', 2: 'random' });
    for (const [volumeKey, image] of Object.entries(sources)) {
      await stagePass(env, image, { volumeKey, passNumber: 1, sizeBytes });
    }
    // The agent writes its records below its own prefix, never beside the staged passes.
    const records = test.stagingAt(STAGING_BUCKET, `runs/${runId}/agent/volumes/`);
    const acks = [await waitForAck(records, 'db-root', 1), await waitForAck(records, 'db-data', 1)];
    const heartbeat = await readHeartbeat(test.stagingAt(STAGING_BUCKET, `runs/${runId}/agent/`));
    expect(await staging.head('db-root/pass-000001/ack.json')).toBeUndefined();

    expect(acks.map((ack) => hasValidMac(runKey, ack))).toEqual([true, true]);
    expect(acks[1]?.target).toBe(created);
    expect(heartbeat && hasValidMac(runKey, heartbeat)).toBe(true);
    expect(await imageSha256(existing, sizeBytes)).toBe(await imageSha256(sources['db-root']));
    expect(await imageSha256(created)).toBe(await imageSha256(sources['db-data']));

    const boot = await run('VerificationBoot', { runId });
    const cutover = await run('Cutover', { runId });
    expect(boot).toMatchObject({ operation: 'VerificationBoot', confirmation: 'operator' });
    expect(cutover).toMatchObject({ operation: 'Cutover', confirmation: 'operator' });
    expect(String((cutover as { instructions?: unknown }).instructions)).toMatch(/stopped writing the disks/);
    const record: unknown = JSON.parse(await readFile(join(dir, 'state', 'runs', `${runId}.json`), 'utf8'));
    expect(record).toMatchObject({ runId, following: false, phase: 'cutover' });

    // After the cutover the disks belong to the failback hosts: a pass staged now is not applied.
    const before = await imageSha256(created);
    await writeBlock(sources['db-data'], sizeBytes, 7, 'random');
    await stagePass(env, sources['db-data'], { volumeKey: 'db-data', passNumber: 2, sizeBytes });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await staging.head(passPrefix('db-data', 2) + ACK_KEY)).toBeFalsy();
    expect(await imageSha256(created)).toBe(before);

    agent.child.kill('SIGTERM');
    const exit = await agent.done;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).toMatch(/run-prepare: stopped following[\s\S]*homebound agent: stopped/);
  });

  it('answers a too-small disk, an unknown operation and a bad input with named failures', async () => {
    dir = await mkdtemp(join(test.dir, 'agent-'));
    const small = join(dir, 'small.img');
    await createVolume(small, MiB);
    await launch({ 'vol-0aaa': { path: small } });
    const volumes = [{ hostId: HOST.hostId, volumeId: 'vol-0aaa', volumeKey: 'db-root', sizeBytes: 4 * MiB }];

    const tooSmall = await run('PrepareTarget', { runId: 'run-small', hosts: [HOST], volumes }).catch(
      (e: unknown) => e,
    );
    const unknown = await run('Defragment', { runId: 'run-small' }).catch((e: unknown) => e);
    const badInput = await run('PrepareTarget', {
      runId: 'run-bad',
      hosts: [HOST],
      volumes: [{ ...volumes[0], sizeBytes: -1 }],
    }).catch((e: unknown) => e);
    const notPrepared = await run('Cutover', { runId: 'run-never' }).catch((e: unknown) => e);
    const rollback = await run('Rollback', { runId: 'run-never' });

    expect(tooSmall).toMatchObject({ name: 'TargetDiskTooSmallError', cause: expect.stringContaining(small) });
    expect(unknown).toMatchObject({ name: 'UnknownOperationError', cause: expect.stringContaining('"Defragment"') });
    expect(badInput).toMatchObject({
      name: 'InvalidInputError',
      cause: expect.stringContaining('volumes.0.sizeBytes'),
    });
    expect(notPrepared).toMatchObject({ name: 'RunNotPreparedError' });
    expect(rollback).toMatchObject({ operation: 'Rollback', poweredOff: [], disksKept: [] });
  });

  it('resumes applying after a SIGKILL at random instants, every pass ending identical', async () => {
    dir = await mkdtemp(join(test.dir, 'agent-'));
    const runId = 'run-sigkill';
    const sizeBytes = 24 * MiB;
    const target = join(dir, 'target.img');
    const source = join(dir, 'source.img');
    const disks = { 'vol-0aaa': { path: target, create: true } };
    let agent = await launch(disks);
    await run('PrepareTarget', {
      runId,
      hosts: [HOST],
      volumes: [{ hostId: HOST.hostId, volumeId: 'vol-0aaa', volumeKey: 'db-root', sizeBytes }],
    });
    const staging = test.stagingAt(STAGING_BUCKET, `runs/${runId}/volumes/`);
    const env = { store: test.cloud.store, source: test.source, staging };
    const blocks = sizeBytes / BLOCK_SIZE;
    await makeVolume(source, sizeBytes, Object.fromEntries(Array.from({ length: blocks }, (_, i) => [i, 'random'])));
    let base: string | undefined;
    const killedAt: number[] = [];

    for (let passNumber = 1; passNumber <= 3; passNumber++) {
      if (passNumber > 1) {
        for (let i = 0; i < 16; i++) await writeBlock(source, sizeBytes, Math.floor(Math.random() * blocks), 'random');
      }
      base = await stagePass(env, source, {
        volumeKey: 'db-root',
        passNumber,
        sizeBytes,
        ...(base ? { base } : {}),
      });
      // The agent fetches segments while they are staged and writes once the manifest is sealed: an instant soon
      // after sealing mostly lands in the write (a full pass here takes about half a second, an incremental less).
      const instant = Math.floor(Math.random() * 600);
      await new Promise((resolve) => setTimeout(resolve, instant));
      agent.child.kill('SIGKILL');
      const killed = await agent.done;
      killedAt.push(instant);

      agent = await launch(disks);
      const ack = await waitForAck(
        test.stagingAt(STAGING_BUCKET, `runs/${runId}/agent/volumes/`),
        'db-root',
        passNumber,
      );

      expect(killed.code).toBeNull();
      expect(ack).toMatchObject({ passNumber, snapshotId: base });
      expect(await imageSha256(target)).toBe(await imageSha256(source));
    }
    expect(killedAt).toHaveLength(3);
    // The restarted agent picked the run up from its state dir, not from a new PrepareTarget.
    expect(agent.stderr.text).toMatch(/run-sigkill: following 1 volume/);

    const rollback = await run('Rollback', { runId });
    const record: unknown = JSON.parse(await readFile(join(dir, 'state', 'runs', `${runId}.json`), 'utf8'));
    expect(rollback).toMatchObject({ operation: 'Rollback', poweredOff: [], disksKept: [target] });
    expect(record).toMatchObject({ following: false, phase: 'rolled-back' });
    expect(agent.stderr.text).toMatch(/run-sigkill: stopped following/);
  });
});
