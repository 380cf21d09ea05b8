import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputePort } from '../../core/compute/port.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { PassResultsMismatchError } from '../../core/failback/errors.js';
import { FailbackMetrics } from '../../core/failback/metrics.js';
import type { ApprovalPort, FailbackDeps, PassState } from '../../core/failback/run-state.js';
import { runLayout } from '../../core/failback/run-state.js';
import { PassRecord, readStreamedVolumes, recordPass } from '../../core/failback/steps/record-pass.js';
import { RunReport, report } from '../../core/failback/steps/report.js';
import { LOCAL_TAKEOVER_TAG } from '../../core/failback/takeover-tag.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';

const RUN = 'results-run';
let test: TestCloud;
let deps: FailbackDeps;

beforeAll(async () => {
  test = await startTestCloud();
  deps = {
    compute: {} as ComputePort,
    blockSource: test.source,
    staging: (prefix) => test.stagingAt(STAGING_BUCKET, prefix),
    stagingBucket: STAGING_BUCKET,
    takeoverTag: LOCAL_TAKEOVER_TAG,
    approvals: {} as ApprovalPort,
    metrics: FailbackMetrics.disabled(),
    now: () => new Date(),
  };
});
afterAll(async () => {
  await test?.stop();
});

const snapshot = (n: number) => ({
  volumeKey: `vol-${n}`,
  hostId: 'i-1',
  volumeId: `vol-${n}`,
  sizeBytes: 1024,
  snapshotId: `snap-${n}`,
});
const pass: PassState = { number: 2, kind: 'full', final: false, snapshots: [snapshot(1), snapshot(2)] };
const stats = { blocksListed: 3, bytesChanged: 10, bytesStaged: 12, invocations: 1 };
const output = (n: number) => JSON.stringify({ snapshot: snapshot(n), done: true, stats });

/** A map run's export as ResultWriter leaves it (AWS's field names), under the pass's results prefix. */
async function exportResults(
  mapRunId: string,
  entries: { Name: string; Status: string; Output?: string }[],
  failed: { Name: string; Status: string }[] = [],
): Promise<{ Bucket: string; Key: string }> {
  const base = `${runLayout.passResultsPrefix(RUN, pass.number)}/${mapRunId}`;
  const staging = deps.staging('');
  await staging.put(`${base}/SUCCEEDED_0.json`, Buffer.from(JSON.stringify(entries)));
  if (failed.length > 0) await staging.put(`${base}/FAILED_0.json`, Buffer.from(JSON.stringify(failed)));
  const manifest = {
    DestinationBucket: STAGING_BUCKET,
    MapRunArn: `arn:aws:states:local:000000000000:mapRun:m/StreamPass:${mapRunId}`,
    ResultFiles: {
      SUCCEEDED: [{ Key: `${base}/SUCCEEDED_0.json`, Size: 1 }],
      FAILED: failed.length > 0 ? [{ Key: `${base}/FAILED_0.json`, Size: 1 }] : [],
      PENDING: [],
    },
  };
  await staging.put(`${base}/manifest.json`, Buffer.from(JSON.stringify(manifest)));
  return { Bucket: STAGING_BUCKET, Key: `${base}/manifest.json` };
}

describe("RecordPass reading the StreamPass map's export", () => {
  it("returns every volume's streamed result in the pass's order, whatever the export's order", async () => {
    const results = await exportResults('in-order', [
      { Name: 'b', Status: 'SUCCEEDED', Output: output(2) },
      { Name: 'a', Status: 'SUCCEEDED', Output: output(1) },
    ]);

    const streamed = await readStreamedVolumes({ runId: RUN, pass, results }, deps);

    expect(streamed.map((volume) => volume.snapshot.volumeKey)).toEqual(['vol-1', 'vol-2']);
    expect(streamed[0]?.stats).toEqual(stats);
  });

  it('refuses an export that misses a volume, repeats one, or holds failed children, naming what is wrong', async () => {
    const missing = await exportResults('missing', [{ Name: 'a', Status: 'SUCCEEDED', Output: output(1) }]);
    await expect(readStreamedVolumes({ runId: RUN, pass, results: missing }, deps)).rejects.toThrow(
      new PassResultsMismatchError('no streamed result for vol-2 (snap-2)'),
    );
    const twice = await exportResults('twice', [
      { Name: 'a', Status: 'SUCCEEDED', Output: output(1) },
      { Name: 'b', Status: 'SUCCEEDED', Output: output(2) },
      { Name: 'c', Status: 'SUCCEEDED', Output: output(2) },
    ]);
    await expect(readStreamedVolumes({ runId: RUN, pass, results: twice }, deps)).rejects.toThrow(
      /3 streamed results for the 2 volumes of pass 2/,
    );
    const failed = await exportResults(
      'failed',
      [{ Name: 'a', Status: 'SUCCEEDED', Output: output(1) }],
      [{ Name: 'b', Status: 'FAILED' }],
    );
    await expect(readStreamedVolumes({ runId: RUN, pass, results: failed }, deps)).rejects.toThrow(
      /exported failed children/,
    );
    const garbled = await exportResults('garbled', [{ Name: 'a', Status: 'SUCCEEDED', Output: '{"done":true}' }]);
    await expect(readStreamedVolumes({ runId: RUN, pass, results: garbled }, deps)).rejects.toThrow(
      /the Output of a: snapshot /,
    );
  });

  it("refuses results outside the staging bucket or the pass's results prefix, naming the field", async () => {
    const results = await exportResults('elsewhere', [{ Name: 'a', Status: 'SUCCEEDED', Output: output(1) }]);
    await expect(
      readStreamedVolumes({ runId: RUN, pass, results: { ...results, Bucket: 'another-bucket' } }, deps),
    ).rejects.toThrow(/results\.Bucket "another-bucket"/);
    await expect(
      readStreamedVolumes({ runId: RUN, pass, results: { ...results, Key: 'runs/other-run/x/manifest.json' } }, deps),
    ).rejects.toThrow(/results\.Key "runs\/other-run\/x\/manifest\.json" is not below/);
  });
});

describe('RecordPass of a seeded pass', () => {
  it('records the pass as seeded with each volume’s comparison, and warns of a seed that saved nothing, in the run report too', async () => {
    const seededPass: PassState = { number: 1, kind: 'full', final: false, snapshots: [snapshot(1), snapshot(2)] };
    const seeded = (n: number, blocksDiffering: number) =>
      JSON.stringify({
        snapshot: snapshot(n),
        done: true,
        stats: { ...stats, blocksListed: 100, blocksCompared: 100, blocksDiffering, seed: `vol-seed-${n}` },
      });
    const base = `${runLayout.passResultsPrefix(RUN, 1)}/seeded`;
    const staging = deps.staging('');
    await staging.put(
      `${base}/SUCCEEDED_0.json`,
      Buffer.from(
        JSON.stringify([
          { Name: 'a', Status: 'SUCCEEDED', Output: seeded(1, 2) },
          { Name: 'b', Status: 'SUCCEEDED', Output: seeded(2, 95) },
        ]),
      ),
    );
    await staging.put(
      `${base}/manifest.json`,
      Buffer.from(JSON.stringify({ ResultFiles: { SUCCEEDED: [{ Key: `${base}/SUCCEEDED_0.json` }], FAILED: [] } })),
    );

    await recordPass(
      {
        runId: RUN,
        pass: seededPass,
        results: { Bucket: STAGING_BUCKET, Key: `${base}/manifest.json` },
        convergence: { thresholdMiB: 64, maxPasses: 10 },
      },
      deps,
    );

    const key = runLayout.passRecordKey(1);
    const record = parseStagedJson(PassRecord, await deps.staging(runLayout.record(RUN)).get(key), key);
    expect(record.kind).toBe('seeded');
    expect(
      record.volumes.map(({ blocksCompared, blocksDiffering, seed }) => ({ blocksCompared, blocksDiffering, seed })),
    ).toEqual([
      { blocksCompared: 100, blocksDiffering: 2, seed: 'vol-seed-1' },
      { blocksCompared: 100, blocksDiffering: 95, seed: 'vol-seed-2' },
    ]);
    expect(record.warnings).toEqual([
      expect.stringMatching(/^seed vol-seed-2 of vol-2 saved nothing: 95 of the 100 blocks/),
    ]);

    const volumes = [1, 2].map((n) => ({ ...snapshot(n), device: `/dev/sd${n}` }));
    const compute = { describeHosts: async () => [] } as unknown as ComputePort;
    await report(
      { runId: RUN, outcome: { status: 'succeeded' }, takeoverHostIds: ['i-1'], volumes },
      { ...deps, compute },
    );
    const reportKey = runLayout.reportKey;
    const runReport = parseStagedJson(RunReport, await deps.staging(runLayout.record(RUN)).get(reportKey), reportKey);
    expect(runReport.passes.map((recorded) => recorded.kind)).toContain('seeded');
    expect(runReport.warnings).toEqual(record.warnings);
  });
});
