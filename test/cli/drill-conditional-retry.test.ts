import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OnPremDrillReport } from '../../cli/drill/run-onprem-drill.js';
import { runCli } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-drill-onprem-retry-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('homebound drill --method conditional-automated --reject-then-retry', () => {
  it('rolls the rejected run back keeping its disks, then the approved run starts incremental from them and ends identical', async () => {
    const json = join(dir, 'retry.json');
    const result = await runCli([
      'drill',
      '--method',
      'conditional-automated',
      '--reject-then-retry',
      '--work-dir',
      join(dir, 'work'),
      '--json',
      json,
    ]);

    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as OnPremDrillReport;
    const retry = report.retry;
    if (!retry) throw new Error('the report has no retry check');
    // The rejected execution: rolled back, the takeover host running with every write, no failback VM on, disks kept.
    expect(retry.first.status).toBe('rolled-back');
    expect(retry.first.verified).toBe(true);
    expect(retry.first.takeoverState).toBe('running');
    expect(retry.first.writesLost).toBe(0);
    expect(retry.first.vms.length).toBeGreaterThan(0);
    expect(retry.first.vms.every((vm) => vm.powerState !== 'poweredOn')).toBe(true);
    expect(retry.disksKept).toBe(report.volumes.length);
    expect(retry.keptSnapshots).toHaveLength(report.volumes.length);
    // The approved execution: its first pass incremental from the kept snapshots, within 1.1 × what changed since.
    expect(report.firstPass?.kind, report.firstPass?.reason).toBe('incremental');
    expect(report.passes[0]?.kind).toBe('incremental');
    expect(report.passes.every((pass) => pass.kind === 'incremental')).toBe(true);
    expect(retry.bytesChangedSinceKept).toBeGreaterThan(0);
    expect(retry.firstPass.bytesStaged).toBeLessThanOrEqual(1.1 * retry.bytesChangedSinceKept);
    expect(retry.stagedRatio).toBeLessThanOrEqual(1.1);
    expect(retry.ok).toBe(true);
    // Verified and identical: every VM on, each VM disk byte-identical to its takeover volume at stop.
    expect(report.status).toBe('succeeded');
    expect(report.verified).toBe(true);
    expect(report.vms.every((vm) => vm.powerState === 'poweredOn')).toBe(true);
    expect(report.volumes.every((volume) => volume.identical)).toBe(true);
    // The same disks: the retried run's VM disks are the ones the rejected run kept.
    expect(report.vms.flatMap((vm) => vm.disks.map((disk) => disk.path)).sort()).toEqual(
      retry.first.vms.flatMap((vm) => vm.disks.map((disk) => disk.path)).sort(),
    );
    expect(result.stdout).toMatch(/retried run's first pass: incremental, .*: ok/);
  }, 300_000);
});
