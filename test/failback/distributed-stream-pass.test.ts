import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrillTakeoverHost } from '../../cli/drill/takeover.js';
import { createS3Client } from '../../core/adapters/aws/clients.js';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import type { Host } from '../../core/compute/port.js';
import { Applier } from '../../core/engine/applier.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { PassSnapshot, runLayout } from '../../core/failback/run-state.js';
import { PassRecord } from '../../core/failback/steps/record-pass.js';
import { automatedMethod } from '../../core/methods/automated.js';
import { definitionPath } from '../../core/methods/method.js';
import { LocalStateMachine, type TaskHandler } from '../../core/orchestration/local-runner.js';
import { type LocalFailback, startLocalFailback } from '../../core/wiring/local.js';
import { sameImage } from '../support/volumes.js';

/** More volumes in one pass than an inline Map runs at once (40), each tiny so the run stays quick. */
const VOLUMES = 45;
const SIZE_BYTES = 2 * 512 * 1024 + 4096;
const RUN = 'wide-pass';

let dir: string;
let env: LocalFailback;
let host: Host;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-dmap-'));
  env = await startLocalFailback({ method: automatedMethod, dir, waitMs: 20, retryIntervalMs: 20 });
  host = await createDrillTakeoverHost(env, {
    name: 'wide',
    volumes: VOLUMES,
    sizeBytes: SIZE_BYTES,
    writesPerSecond: 0,
    seed: 41,
  });
});
afterAll(async () => {
  await env?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * The automated ASL file's pass, as deployed, from the snapshot set to the pass record: SnapshotVolumes, CheckSnapshots
 * (until ready), StreamPass, RecordPass. Only the way out changes: RecordPass ends the machine (the applying
 * gateways, the cutover and their states are other tests' business), and there is nothing to roll back to.
 */
function passMachine() {
  const { States } = JSON.parse(readFileSync(definitionPath(automatedMethod), 'utf8'));
  const state = (name: string, next: { Next: string } | { End: true }) => {
    const { Catch: _catch, Next: _next, ...rest } = States[name];
    return { ...rest, ...next };
  };
  return {
    StartAt: 'SnapshotVolumes',
    States: {
      SnapshotVolumes: state('SnapshotVolumes', { Next: 'CheckSnapshots' }),
      CheckSnapshots: state('CheckSnapshots', { Next: 'CheckSnapshotsDone?' }),
      'CheckSnapshotsDone?': States['CheckSnapshotsDone?'],
      WaitForSnapshots: States.WaitForSnapshots,
      StreamPass: state('StreamPass', { Next: 'RecordPass' }),
      RecordPass: state('RecordPass', { End: true }),
    },
  };
}

describe('a pass of more volumes than an inline Map runs at once (statemachines/automated-failback.asl.json)', () => {
  it(`streams ${VOLUMES} volumes as Distributed Map children, items and results in S3, each volume staged identical`, {
    timeout: 180_000,
  }, async () => {
    const bound = (state: string): TaskHandler => {
      const handler = env.machine.handlerFor(state);
      if (!handler) throw new Error(`${state} has no handler`);
      return handler;
    };
    let streaming = 0;
    let peak = 0;
    const streamPass = bound('StreamVolumePass');
    const machine = LocalStateMachine.load({
      definition: passMachine(),
      handlers: {
        SnapshotVolumesFunctionArn: bound('SnapshotVolumes'),
        CheckSnapshotsFunctionArn: bound('CheckSnapshots'),
        StreamPassFunctionArn: async (input, context) => {
          peak = Math.max(peak, ++streaming);
          try {
            return await streamPass(input, context);
          } finally {
            streaming -= 1;
          }
        },
        RecordPassFunctionArn: bound('RecordPass'),
      },
      waitOverrides: { WaitForSnapshots: 20 },
      s3: createS3Client({
        endpoint: env.cloud.s3Endpoint,
        region: env.cloud.region,
        credentials: env.cloud.credentials,
      }),
    });
    const volumes = host.volumes.map((volume, index) => ({
      hostId: host.hostId,
      volumeId: volume.volumeId,
      device: `/dev/sd${index}`,
      sizeBytes: SIZE_BYTES,
      volumeKey: volume.volumeId,
    }));

    const execution = machine.run(
      {
        runId: RUN,
        takeoverHostIds: [host.hostId],
        waves: [{ wave: 1, takeoverHostIds: [host.hostId] }],
        volumes,
        target: {},
        pass: { number: 0, final: false, snapshots: [] },
        request: { convergence: { thresholdMiB: 64, maxPasses: 4 } },
      },
      { executionName: RUN },
    );
    const output = (await execution.result) as {
      streamed: { MapRunArn: string; ResultWriterDetails: { Bucket: string; Key: string } };
      progress: { passes: number; blocksListed: number };
    };

    // One child execution per volume, all succeeded; the parent's history holds the map run, not their events.
    const started = execution.history.find((event) => event.type === 'MapRunStarted');
    expect(started).toMatchObject({ stateName: 'StreamPass', itemCount: VOLUMES, childCount: VOLUMES });
    expect(execution.childExecutions).toHaveLength(VOLUMES);
    expect(execution.childExecutions.every((child) => child.status === 'SUCCEEDED')).toBe(true);
    expect(execution.history.some((event) => 'stateName' in event && event.stateName === 'StreamVolumePass')).toBe(
      false,
    );
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(passMachine().States.StreamPass.MaxConcurrency);
    // The items CheckSnapshots wrote and the map's export are in the run's prefix of the staging bucket; the parent
    // state holds only where the export is.
    const staging = env.deps.staging('');
    const items = parseStagedJson(
      PassSnapshot.array(),
      await staging.get(runLayout.passItemsKey(RUN, 1)),
      'items.json',
    );
    expect(items.map((item) => item.volumeId).sort()).toEqual(volumes.map((volume) => volume.volumeId).sort());
    expect(output.streamed.ResultWriterDetails.Bucket).toBe(env.deps.stagingBucket);
    expect(output.streamed.ResultWriterDetails.Key.startsWith(`${runLayout.passResultsPrefix(RUN, 1)}/`)).toBe(true);
    expect(JSON.stringify(output.streamed).length).toBeLessThan(1024);
    expect(await staging.list(`${runLayout.passResultsPrefix(RUN, 1)}/`)).toEqual(
      expect.arrayContaining([output.streamed.ResultWriterDetails.Key, expect.stringMatching(/\/SUCCEEDED_0\.json$/)]),
    );

    // RecordPass read every volume's result from the export.
    expect(output.progress.passes).toBe(1);
    const record = parseStagedJson(
      PassRecord,
      await env.deps.staging(runLayout.record(RUN)).get(runLayout.passRecordKey(1)),
      'pass record',
    );
    expect(record.volumes.map((volume) => volume.volumeKey).sort()).toEqual(
      volumes.map((volume) => volume.volumeKey).sort(),
    );
    expect(output.progress.blocksListed).toBe(record.volumes.reduce((sum, volume) => sum + volume.blocksListed, 0));
    expect(output.progress.blocksListed).toBeGreaterThan(0);

    // Each volume's staged pass applies to a disk identical to the volume (no writes since its snapshot).
    for (const volume of volumes) {
      const targetPath = join(dir, `${volume.volumeId}.target.img`);
      const target = await openFileTarget(targetPath, { createWithSize: SIZE_BYTES });
      try {
        const applier = await Applier.open({
          staging: env.deps.staging(runLayout.volumes(RUN)),
          volumeKey: volume.volumeKey,
          target,
          stateDir: join(dir, 'applier', volume.volumeId),
        });
        await applier.applyPass(1);
      } finally {
        await target.close();
      }
      expect(await sameImage(env.volumePath(volume.volumeId), targetPath), volume.volumeId).toBe(true);
    }
  });
});
