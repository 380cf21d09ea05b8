import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../cli/drill/drill-report.js';
import { runCli } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-drill-fleet-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const FLEET = ['--hosts', '3', '--volumes', '2', '--size-mib', '8', '--max-passes', '3'];

describe('homebound drill --hosts', () => {
  it('fails a fleet of three takeover hosts back in one run: every volume identical, every host moved, nothing lost', async () => {
    const json = join(dir, 'fleet.json');
    const result = await runCli(['drill', '--auto-approve', ...FLEET, '--json', json]);

    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;
    expect(report.status).toBe('succeeded');
    expect(report.verified).toBe(true);
    expect(report.volumes).toHaveLength(6);
    expect(new Set(report.volumes.map((volume) => volume.sourceVolumeId)).size).toBe(6);
    for (const volume of report.volumes) expect(volume.identical).toBe(true);
    // Each host has its own data: no two takeover volumes hash alike.
    expect(new Set(report.volumes.map((volume) => volume.sourceSha256)).size).toBe(6);
    expect(report.writes.writes).toBeGreaterThan(0);
    expect(report.writes.lost).toEqual([]);
    const byRole = (role: string) => report.hosts.filter((host) => host.role === role);
    expect(byRole('takeover').map((host) => [host.name, host.state])).toEqual([
      ['drill-app-01', 'stopped'],
      ['drill-app-02', 'stopped'],
      ['drill-app-03', 'stopped'],
    ]);
    expect(byRole('failback').map((host) => [host.name, host.state])).toEqual([
      ['drill-app-01-failback', 'running'],
      ['drill-app-02-failback', 'running'],
      ['drill-app-03-failback', 'running'],
    ]);
    expect(report.leftToDo).toEqual([]);
  }, 240_000);

  it('rolls the whole fleet back on --reject: every takeover host running with all its writes, no failback host left', async () => {
    const json = join(dir, 'fleet-reject.json');
    const result = await runCli(['drill', '--reject', ...FLEET, '--json', json]);

    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;
    expect(report.status).toBe('rolled-back');
    expect(report.verified).toBe(true);
    expect(report.verifiedWhat).toContain('the takeover hosts run again');
    expect(report.writes.lost).toEqual([]);
    const takeover = report.hosts.filter((host) => host.role === 'takeover');
    expect(takeover).toHaveLength(3);
    expect(takeover.every((host) => host.state === 'running')).toBe(true);
    expect(report.hosts.filter((host) => host.role === 'failback' && host.state === 'running')).toEqual([]);
  }, 240_000);

  it('refuses --hosts out of range, naming the option, and --hosts for the on-prem drill', async () => {
    for (const hosts of ['0', '101', '2.5']) {
      const result = await runCli(['drill', '--auto-approve', '--hosts', hosts]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`option '--hosts <n>' argument '${hosts}' is invalid`);
    }
    const onPrem = await runCli(['drill', '--auto-approve', '--method', 'conditional-automated', '--hosts', '2']);
    expect(onPrem.code).toBe(2);
    expect(onPrem.stderr).toContain('--hosts is not available for the conditional-automated drill yet');
  });
});
