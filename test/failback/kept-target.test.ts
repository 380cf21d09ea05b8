import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareVolumes } from '../../cli/drill/verify.js';
import type { Host } from '../../core/compute/port.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { DrillInjectedFailure } from '../../core/failback/errors.js';
import { HOLDS_SNAPSHOT_TAG, KEPT_FOR_TAG, KeptTargetRecord, keptRecordKey } from '../../core/failback/kept-target.js';
import { RUN_TAG, runLayout } from '../../core/failback/run-state.js';
import { CleanUpInput, cleanUp } from '../../core/failback/steps/clean-up.js';
import { RunReport } from '../../core/failback/steps/report.js';
import type { LocalRunEvent } from '../../core/orchestration/local-runner.js';
import { type FailbackFixture, startFailbackFixture } from '../support/failback.js';

let fixture: FailbackFixture;
beforeAll(async () => {
  fixture = await startFailbackFixture();
});
afterAll(async () => {
  await fixture?.stop();
});

async function runReport(runId: string) {
  const record = fixture.env.deps.staging(runLayout.record(runId));
  return parseStagedJson(RunReport, await record.get(runLayout.reportKey), 'report.json');
}

/** Runs the automated method on the host and answers its approval; resolves once the execution has ended. */
async function run(host: Host, runId: string, decision: 'approve' | 'reject', overrides: Record<string, unknown> = {}) {
  const execution = fixture.env.machine.run(fixture.request([host.hostId], overrides), { executionName: runId });
  const request = await fixture.env.approvals.next();
  if (decision === 'approve') await fixture.env.approvals.approve(request.runId, 'test');
  else await fixture.env.approvals.reject(request.runId, 'test', 'not tonight');
  await execution.result.catch(() => undefined);
  lastHistory = execution.history;
  return runReport(runId);
}

let lastHistory: readonly LocalRunEvent[] = [];

/** The input a state of the last run was entered with. */
function inputOf(stateName: string): unknown {
  const entered = lastHistory.find((event) => event.type === 'StateEntered' && event.stateName === stateName);
  return entered?.type === 'StateEntered' ? entered.input : undefined;
}

describe('target volumes kept by a rolled-back run (core/failback/keep-target.ts, adopt-target.ts)', () => {
  it('keeps exactly the last applied snapshot, and starts incremental only from a target proven to hold it', async () => {
    const host = await fixture.takeoverHost('kept', 21);
    const [first, second] = host.volumes.map((volume) => volume.volumeId);
    if (!first || !second) throw new Error('the takeover host has two volumes');

    // Run A is rejected: its targets are kept, each holding its last pass's snapshot, the only snapshot left.
    const a = await run(host, 'kept-a', 'reject');
    expect(a.status).toBe('rolled-back');
    expect(a.firstPass).toEqual({
      kind: 'full',
      reason: expect.stringContaining(`no target volume was kept for ${first}`),
    });
    const lastPass = a.passes.at(-1);
    expect(a.keptTargets?.map((kept) => [kept.volumeKey, kept.snapshotId, kept.passNumber])).toEqual(
      lastPass?.volumes.map((volume) => [volume.volumeKey, volume.snapshotId, lastPass.passNumber]),
    );
    const left = await fixture.env.compute.findSnapshots({ [RUN_TAG]: 'kept-a' });
    expect(left.map((snapshot) => snapshot.snapshotId).sort()).toEqual(
      a.keptTargets?.map((kept) => kept.snapshotId).sort(),
    );
    // CleanUp retried (its first attempt timed out, say) once the gateway is gone: it keeps the same snapshots.
    const again = await cleanUp(CleanUpInput.parse(inputOf('CleanUpAfterRollback')), fixture.env.deps);
    expect(again.kept?.map((kept) => kept.snapshotId)).toEqual(a.keptTargets?.map((kept) => kept.snapshotId));
    expect((await fixture.env.compute.findSnapshots({ [RUN_TAG]: 'kept-a' })).length).toBe(left.length);
    const [keptFirst] = await fixture.env.compute.findVolumes({ [KEPT_FOR_TAG]: first });
    expect(keptFirst?.tags[HOLDS_SNAPSHOT_TAG]).toBe(a.keptTargets?.[0]?.snapshotId);
    expect(keptFirst?.attachedTo).toBeUndefined();

    // The kept record of the first volume is altered: its signed ack no longer verifies, so run B is not
    // allowed an incremental pass (a target that is not proven to hold its base gets a full pass) and says why.
    const records = fixture.env.deps.staging(runLayout.record('kept-a'));
    const key = keptRecordKey(first);
    const record = parseStagedJson(KeptTargetRecord, await records.get(key), key);
    await records.put(key, Buffer.from(JSON.stringify({ ...record, ack: { ...record.ack, blocksWritten: 1 } })));
    const b = await run(host, 'kept-b', 'reject');
    expect(b.firstPass?.kind).toBe('full');
    expect(b.firstPass?.reason).toContain("does not verify with run kept-a's gateway key");
    expect(b.passes[0]?.kind).toBe('full');
    // Neither volume was written incrementally onto an unproven base; B keeps its own targets in turn.
    expect(b.keptTargets?.every((kept) => kept.snapshotId !== undefined)).toBe(true);

    // Run C, approved, starts incremental from what B kept and ends byte-identical.
    const c = await run(host, 'kept-c', 'approve');
    expect(c.status).toBe('succeeded');
    expect(c.firstPass?.kind).toBe('incremental');
    expect(c.firstPass?.reason).toContain('run kept-b');
    expect(c.passes[0]?.kind).toBe('incremental');
    expect(c.volumes.map((volume) => volume.targetVolumeId).sort()).toEqual(
      b.keptTargets?.map((kept) => kept.targetVolumeId).sort(),
    );
    const volumes = await compareVolumes(fixture.env, c.volumes);
    expect(volumes.map((volume) => volume.identical)).toEqual([true, true]);
    // The kept snapshots B started from are gone once superseded; nothing of C is left but the live volumes.
    expect(await fixture.env.compute.findSnapshots({ [RUN_TAG]: 'kept-b' })).toEqual([]);
    expect(await fixture.env.compute.findSnapshots({ [RUN_TAG]: 'kept-c' })).toEqual([]);
    expect(await fixture.env.compute.findVolumes({ [KEPT_FOR_TAG]: second })).toEqual([]);
  });

  it('keeps no snapshot for a target a failback host had (a failure after the cutover moved it), so the next run is full', async () => {
    const host = await fixture.takeoverHost('moved', 22);
    fixture.faults.set('VerifyFailback', () => {
      throw new DrillInjectedFailure('VerifyFailback');
    });
    try {
      const moved = await run(host, 'moved-a', 'approve');
      expect(moved.status).toBe('rolled-back');
      expect(moved.keptTargets).toHaveLength(2);
      for (const kept of moved.keptTargets ?? []) {
        expect(kept.snapshotId).toBeUndefined();
        expect(kept.reason).toContain('no longer attached to the sync gateway');
      }
      expect(await fixture.env.compute.findSnapshots({ [RUN_TAG]: 'moved-a' })).toEqual([]);
    } finally {
      fixture.faults.delete('VerifyFailback');
    }

    const next = await run(host, 'moved-b', 'approve');
    expect(next.status).toBe('succeeded');
    expect(next.firstPass).toEqual({ kind: 'full', reason: expect.stringContaining('no target volume was kept') });
    expect(next.passes[0]?.kind).toBe('full');
    const volumes = await compareVolumes(fixture.env, next.volumes);
    expect(volumes.map((volume) => volume.identical)).toEqual([true, true]);
  });

  it('keeps each volume of a run with a gateway per volume from its own gateway’s acks, and the next run starts from them', async () => {
    const host = await fixture.takeoverHost('spread', 23);
    const onePerGateway = { target: { platform: 'aws', region: 'local', volumesPerGateway: 1 } };

    const a = await run(host, 'spread-a', 'reject', onePerGateway);
    expect(a.status).toBe('rolled-back');
    const gateways = (await fixture.env.compute.describeHosts({ tag: { key: RUN_TAG, value: 'spread-a' } })).filter(
      (candidate) => candidate.role === 'gateway',
    );
    expect(gateways.map((gateway) => gateway.state)).toEqual(['terminated', 'terminated']);
    const lastPass = a.passes.at(-1);
    expect(a.keptTargets?.map((kept) => [kept.volumeKey, kept.snapshotId, kept.passNumber])).toEqual(
      lastPass?.volumes.map((volume) => [volume.volumeKey, volume.snapshotId, lastPass.passNumber]),
    );

    const b = await run(host, 'spread-b', 'approve', onePerGateway);
    expect(b.status).toBe('succeeded');
    expect(b.firstPass?.kind).toBe('incremental');
    expect(b.volumes.map((volume) => volume.targetVolumeId).sort()).toEqual(
      a.keptTargets?.map((kept) => kept.targetVolumeId).sort(),
    );
    const volumes = await compareVolumes(fixture.env, b.volumes);
    expect(volumes.map((volume) => volume.identical)).toEqual([true, true]);
  });
});
