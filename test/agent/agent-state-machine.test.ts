import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { imageSha256 } from '../../core/image-digest.js';
import { createVolume } from '../../core/localcloud/local-volume.js';
import { LocalStateMachine } from '../../core/orchestration/local-runner.js';
import { stagePass, waitForAck } from '../gateway/helpers.js';
import { placeholder } from '../orchestration/fixture.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { makeVolume } from '../support/volumes.js';
import { agentConfig, startAgent } from './helpers.js';

const sizeBytes = 10 * BLOCK_SIZE;
const HOST = { hostId: 'i-0abc', name: 'db', instanceType: 'm5.large', vCpus: 2, memoryMiB: 8192 };
const activity = (operation: string, next: object, extra: object = {}) => ({
  Type: 'Task',
  Resource: placeholder('AgentActivityArn'),
  Parameters: { operation, 'runId.$': '$$.Execution.Name', ...extra },
  TimeoutSeconds: 60,
  HeartbeatSeconds: 10,
  ResultPath: `$.${operation}`,
  ...next,
});

/**
 * The on-prem half of the conditional-automated method in miniature: Activity Tasks the agent process answers, and two
 * local handlers standing in for StreamPass and CheckApplied between them.
 */
const definition = {
  StartAt: 'PrepareOnPremTarget',
  States: {
    PrepareOnPremTarget: activity(
      'PrepareTarget',
      { Next: 'StreamPass', Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'RollbackOnPrem' }] },
      { 'hosts.$': '$.hosts', 'volumes.$': '$.volumes' },
    ),
    StreamPass: {
      Type: 'Task',
      Resource: placeholder('StreamPassFunctionArn'),
      TimeoutSeconds: 60,
      ResultPath: null,
      Next: 'CheckApplied',
    },
    CheckApplied: {
      Type: 'Task',
      Resource: placeholder('CheckAppliedFunctionArn'),
      TimeoutSeconds: 60,
      ResultPath: null,
      Next: 'VerificationBoot',
    },
    VerificationBoot: activity('VerificationBoot', { Next: 'CutoverOnPrem' }),
    CutoverOnPrem: activity('Cutover', { Next: 'VerifyOnPrem' }),
    VerifyOnPrem: activity('Verify', { End: true }),
    RollbackOnPrem: activity('Rollback', { End: true }),
  },
};

describe('the agent process answering a state machine’s Activity Tasks (local runner)', () => {
  let test: TestCloud;
  let dir: string;
  const children: Awaited<ReturnType<typeof startAgent>>['child'][] = [];
  beforeAll(async () => {
    test = await startTestCloud();
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    // Until the activity server has seen the killed agent hang up, its long poll would take the next test's task.
    const activityArn = Object.values(test.cloud.activityArns)[0] ?? '';
    await vi.waitFor(() => expect(test.cloud.activities.waitingCount(activityArn)).toBe(0), { timeout: 10_000 });
    await rm(dir, { recursive: true, force: true });
  });
  afterAll(() => test.stop());

  async function setUp(disk: { path: string; create?: boolean }) {
    dir = await mkdtemp(join(test.dir, 'agent-sm-'));
    const source = join(dir, 'source.img');
    await makeVolume(source, sizeBytes, { 0: 'random', 4: 'random', 9: 0x5a });
    const agent = await startAgent(test, dir, agentConfig(test, join(dir, 'state'), { 'vol-0aaa': disk }));
    children.push(agent.child);
    const staging = (runId: string) => test.stagingAt(STAGING_BUCKET, `runs/${runId}/volumes/`);
    const machine = LocalStateMachine.load({
      definition,
      handlers: {
        StreamPassFunctionArn: async (_input, context) => {
          const runId = context.executionName;
          const env = { store: test.cloud.store, source: test.source, staging: staging(runId) };
          await stagePass(env, source, { volumeKey: 'db-root', passNumber: 1, sizeBytes });
          return {};
        },
        CheckAppliedFunctionArn: async (_input, context) => {
          await waitForAck(
            test.stagingAt(STAGING_BUCKET, `runs/${context.executionName}/agent/volumes/`),
            'db-root',
            1,
          );
          return {};
        },
      },
      activities: { AgentActivityArn: Object.values(test.cloud.activityArns)[0] ?? '' },
      activityQueues: test.cloud.activities,
    });
    const input = {
      hosts: [HOST],
      volumes: [{ hostId: HOST.hostId, volumeId: 'vol-0aaa', volumeKey: 'db-root', sizeBytes }],
    };
    return { machine, input, source };
  }

  it('prepares, applies the pass, and answers the boot steps with an operator confirmation (manual platform)', async () => {
    const target = join(test.dir, 'sm-target.img');
    const { machine, input, source } = await setUp({ path: target, create: true });

    const execution = machine.run(input, { executionName: 'run-sm-1' });
    const output = await execution.result;

    expect(output).toMatchObject({
      PrepareTarget: { platform: 'manual', disks: [{ path: target, created: true }] },
      VerificationBoot: { confirmation: 'operator' },
      Cutover: { confirmation: 'operator' },
      Verify: { confirmation: 'operator', hosts: [{ name: 'db', numCPU: 2, memoryMiB: 8192 }] },
    });
    expect(await imageSha256(target)).toBe(await imageSha256(source));
    const started = execution.history.filter((event) => event.type === 'ActivityStarted');
    expect(started.map((event) => event.stateName)).toEqual([
      'PrepareOnPremTarget',
      'VerificationBoot',
      'CutoverOnPrem',
      'VerifyOnPrem',
    ]);
    await rm(target, { force: true });
  });

  it('catches TargetDiskTooSmallError from PrepareTarget and rolls back through the agent', async () => {
    const small = join(test.dir, 'sm-small.img');
    await createVolume(small, BLOCK_SIZE);
    const { machine, input } = await setUp({ path: small });

    const output = await machine.run(input, { executionName: 'run-sm-2' }).result;

    expect(output).toMatchObject({
      failure: { Error: 'TargetDiskTooSmallError', Cause: expect.stringContaining(small) },
      Rollback: { operation: 'Rollback', poweredOff: [], disksKept: [] },
    });
    await rm(small, { force: true });
  });
});
