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

describe('homebound drill --hosts --waves', () => {
  it('rolls every wave back when wave 2 fails its health check: takeover hosts running with all their writes, no failback host running', async () => {
    const json = join(dir, 'wave-fails.json');
    const result = await runCli([
      'drill',
      ...['--hosts', '6', '--waves', '3', '--volumes', '1', '--size-mib', '8', '--max-passes', '3'],
      ...['--fail-health-check', 'wave:2', '--health-timeout', '3', '--auto-approve', '--json', json],
    ]);

    // Ended as rehearsed: the rollback was asked for.
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;
    expect(report.status).toBe('rolled-back');
    expect(report.verified).toBe(true);
    expect(report.reason).toContain('HealthCheckFailedError');
    const wave2 = report.hosts.filter((host) => host.role === 'takeover' && host.wave === 2);
    expect(wave2).toHaveLength(2);
    // The failure names the failback host of wave 2 whose check failed, and why.
    const failed = report.failures.find((failure) => failure.error === 'HealthCheckFailedError');
    expect(failed?.message).toContain('--fail-health-check wave:2');
    const failbackIds = wave2.map((host) => host.failbackHostId ?? '');
    expect(failbackIds.every((id) => /^i-[0-9a-f]+$/.test(id))).toBe(true);
    expect(failbackIds.some((id) => failed?.message.includes(id))).toBe(true);
    const takeover = report.hosts.filter((host) => host.role === 'takeover');
    expect(takeover.map((host) => host.state)).toEqual(Array(6).fill('running'));
    expect(report.writes.lost).toEqual([]);
    expect(report.hosts.filter((host) => host.role === 'failback' && host.state === 'running')).toEqual([]);
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

  it('refuses --waves beyond --hosts, a --fail-health-check wave the drill lacks, and --fail-health-check for the on-prem drill', async () => {
    const tooMany = await runCli(['drill', '--auto-approve', '--hosts', '3', '--waves', '4']);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toContain('--waves 4 is more than --hosts 3');
    const noWave = await runCli([
      'drill',
      '--auto-approve',
      '--hosts',
      '4',
      '--waves',
      '2',
      '--fail-health-check',
      'wave:3',
    ]);
    expect(noWave.code).toBe(2);
    expect(noWave.stderr).toContain('--fail-health-check wave:3: the drill has 2 wave(s)');
    const badWave = await runCli(['drill', '--auto-approve', '--fail-health-check', 'wave:0']);
    expect(badWave.code).not.toBe(0);
    expect(badWave.stderr).toContain('"wave:0" is no wave');
    const onPremFault = await runCli([
      'drill',
      ...['--auto-approve', '--method', 'conditional-automated', '--hosts', '2', '--waves', '2'],
      ...['--fail-health-check', 'wave:2'],
    ]);
    expect(onPremFault.code).toBe(2);
    expect(onPremFault.stderr).toContain('--fail-health-check is not available for the conditional-automated drill');
  });

  it('refuses --hosts out of range, naming the option', async () => {
    for (const hosts of ['0', '101', '2.5']) {
      const result = await runCli(['drill', '--auto-approve', '--hosts', hosts]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`option '--hosts <n>' argument '${hosts}' is invalid`);
    }
  });
});
