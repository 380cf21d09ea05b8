import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWorkloadWrites, compareVolumes } from '../../cli/drill/verify.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { runLayout } from '../../core/failback/run-state.js';
import { RunReport } from '../../core/failback/steps/report.js';
import { allEvents, type FailbackFixture, startFailbackFixture } from '../support/failback.js';

let fixture: FailbackFixture;
beforeAll(async () => {
  // Shards of 16 blocks: the full pass of a 32 MiB volume (64 blocks, some never written so not listed) has several.
  fixture = await startFailbackFixture({ streamSplit: { shardBlocks: 16 } });
});
afterAll(async () => {
  await fixture?.stop();
});

describe('automated failback with split passes', () => {
  it('streams each full pass over its range invocations, seals it once, and fails back identical with nothing lost', {
    timeout: 120_000,
  }, async () => {
    const host = await fixture.takeoverHost('split', 5, 32 * 1024 * 1024);
    const execution = fixture.env.machine.run(fixture.request([host.hostId]), { executionName: 'split-run' });
    const request = await fixture.env.approvals.next();
    await fixture.env.approvals.approve(request.runId, 'test');
    const output = (await execution.result) as { status: string };

    expect(output.status).toBe('succeeded');
    const entered = (state: string) =>
      allEvents(execution).filter((event) => event.type === 'StateEntered' && event.stateName === state).length;
    // The full pass of each of the 2 volumes at least: 2 ranges or more, and one seal. An incremental pass splits too
    // when the workload changed more than a shard; each split volume pass is sealed exactly once.
    expect(entered('StreamShardRange')).toBeGreaterThanOrEqual(4);
    expect(entered('SealVolumePass')).toBeGreaterThanOrEqual(2);
    expect(entered('SealVolumePass')).toBe(entered('StreamShardRanges'));
    const record = fixture.env.deps.staging(runLayout.record('split-run'));
    const report = parseStagedJson(RunReport, await record.get(runLayout.reportKey), 'report.json');
    expect(report.status).toBe('succeeded');
    const volumes = await compareVolumes(fixture.env, report.volumes);
    expect(volumes.map((volume) => volume.identical)).toEqual([true, true]);
    const writes = await checkWorkloadWrites(
      fixture.env,
      host,
      (id) => report.volumes.find((volume) => volume.sourceVolumeId === id)?.targetVolumeId,
    );
    expect(writes.writes).toBeGreaterThan(0);
    expect(writes.lost).toEqual([]);
  });
});
