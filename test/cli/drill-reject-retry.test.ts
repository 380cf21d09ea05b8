import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../cli/drill/drill-report.js';
import { runCli } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-drill-retry-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('homebound drill --reject-then-retry', () => {
  it('rolls the rejected run back keeping its targets, then starts the approved retry with an incremental pass', async () => {
    const json = join(dir, 'retry.json');
    const { code, stdout, stderr } = await runCli([
      'drill',
      '--volumes',
      '2',
      '--size-mib',
      '48',
      '--writes-per-second',
      '30',
      '--threshold-mib',
      '32',
      '--reject-then-retry',
      '--json',
      json,
    ]);
    const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;

    expect(code, stderr).toBe(0);
    const [first, second] = report.runs ?? [];
    const retry = report.retry;
    if (!first || !second || !retry) throw new Error(`no runs or retry in the report: ${stdout}`);

    // The first execution: rejected at approval, rolled back with every write, targets kept with their snapshots.
    expect(first.status).toBe('rolled-back');
    expect(first.verified).toBe(true);
    expect(first.leftToDo).toEqual([]);
    expect(first.firstPass?.kind).toBe('full');
    expect(first.passes[0]?.kind).toBe('full');
    expect(retry.firstRunRolledBack).toBe(true);
    // Terminated, not only stopped: a stopped failback host would keep its address.
    expect(retry.failbackHostsLeftAfterRollback).toEqual([]);
    expect(retry.targetVolumesKept).toBe(true);
    expect(retry.keptSnapshots).toHaveLength(2);
    // What the run report says it kept is what the drill found by tags: the last applied pass's snapshots.
    expect(first.keptTargets?.map((kept) => kept.snapshotId).sort()).toEqual(
      retry.keptSnapshots.map((kept) => kept.snapshotId).sort(),
    );
    expect(first.keptTargets?.every((kept) => kept.passNumber === first.passes.length)).toBe(true);

    // The second execution: same takeover host, approved, starts incremental from the kept snapshots, ends identical.
    expect(second.runId).not.toBe(first.runId);
    expect(second.status).toBe('succeeded');
    expect(second.firstPass?.kind).toBe('incremental');
    expect(second.passes[0]?.kind).toBe('incremental');
    expect(retry.firstPass.kind).toBe('incremental');
    expect(retry.bytesChangedSinceKept).toBeGreaterThan(0);
    expect(retry.firstPass.bytesStaged).toBeGreaterThan(0);
    expect(retry.firstPass.bytesStaged).toBeLessThanOrEqual(1.1 * retry.bytesChangedSinceKept);
    // Far less than the full pass the first run had to make.
    expect(retry.firstPass.bytesStaged).toBeLessThan(first.passes[0]?.bytesStaged ?? 0);
    expect(report.status).toBe('succeeded');
    expect(report.volumes.map((volume) => volume.identical)).toEqual([true, true]);
    expect(report.volumes.map((volume) => volume.targetVolumeId).sort()).toEqual(
      retry.keptSnapshots.map((kept) => kept.targetVolumeId).sort(),
    );
    expect(report.writes.lost).toEqual([]);
    expect(retry.verified).toBe(true);
    expect(report.verified).toBe(true);
    expect(stdout).toContain("retried run's first pass: incremental");
  });
});
