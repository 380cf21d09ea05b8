import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../cli/drill/drill-report.js';
import { runCli } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-drill-waves-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Issue 14's acceptance drill, in a file of its own so the test runner can run it beside the others. */
describe('homebound drill --hosts 12 --waves 3', () => {
  it('fails 12 hosts back in 3 waves: identical, takeover stopped last wave first, each wave healthy before the next, settings applied', async () => {
    const json = join(dir, 'waves.json');
    const result = await runCli([
      'drill',
      ...['--hosts', '12', '--waves', '3', '--volumes', '2', '--size-mib', '16', '--auto-approve', '--json', json],
    ]);

    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;
    expect(report.status).toBe('succeeded');
    expect(report.verified).toBe(true);
    expect(report.volumes).toHaveLength(24);
    for (const volume of report.volumes) expect(volume.identical).toBe(true);
    // Each host has its own data: no two takeover volumes hash alike.
    expect(new Set(report.volumes.map((volume) => volume.sourceSha256)).size).toBe(24);
    expect(report.writes.writes).toBeGreaterThan(0);
    expect(report.writes.lost).toEqual([]);
    expect(report.leftToDo).toEqual([]);

    const takeover = report.hosts.filter((host) => host.role === 'takeover');
    expect(takeover.map((host) => [host.name, host.state, host.wave])).toEqual(
      Array.from({ length: 12 }, (_, i) => [
        `drill-app-${String(i + 1).padStart(2, '0')}`,
        'stopped',
        1 + Math.floor(i / 4),
      ]),
    );
    const ofWave = (wave: number) => takeover.filter((host) => host.wave === wave);
    const times = (wave: number, field: 'takeoverStoppedAt' | 'failbackStartedAt' | 'healthyAt') =>
      ofWave(wave).map((host) => Date.parse(host[field] ?? ''));
    for (const wave of [1, 2, 3]) {
      for (const field of ['takeoverStoppedAt', 'failbackStartedAt', 'healthyAt'] as const) {
        expect(times(wave, field).every(Number.isFinite), `wave ${wave} ${field}`).toBe(true);
      }
    }
    for (const wave of [1, 2]) {
      // Takeover hosts stop in reverse wave order: wave k+1 had stopped before wave k did.
      expect(Math.max(...times(wave + 1, 'takeoverStoppedAt'))).toBeLessThan(
        Math.min(...times(wave, 'takeoverStoppedAt')),
      );
      // Failback hosts of wave k+1 started only once every host of wave k was healthy.
      expect(Math.min(...times(wave + 1, 'failbackStartedAt'))).toBeGreaterThanOrEqual(
        Math.max(...times(wave, 'healthyAt')),
      );
    }
    for (const host of takeover) {
      expect(host.healthChecks, host.name).toEqual([{ name: 'state', passed: true }]);
      // Each failback host got what the request asked for: type, home subnet, the takeover address after the remap.
      const failback = report.hosts.find((candidate) => candidate.replaces === host.hostId);
      expect(failback, host.name).toMatchObject({ role: 'failback', state: 'running', wave: host.wave });
      expect(host.settings).toMatchObject({
        platform: 'aws',
        instanceType: host.wave === 1 ? 'r5.large' : 'c5.large',
        privateIp: host.privateIp?.replace(/^10\.8\./, '192.168.'),
      });
      if (host.settings?.platform !== 'aws') throw new Error('aws settings expected');
      expect(failback?.hostId).toBe(host.failbackHostId);
      expect([failback?.instanceType, failback?.subnetId, failback?.privateIp]).toEqual([
        host.settings.instanceType,
        host.settings.subnetId,
        host.settings.privateIp,
      ]);
      expect(host.instanceType).toBe('t3.medium');
    }
    // Each wave's home subnet is its own.
    expect(
      new Set(takeover.map((host) => (host.settings?.platform === 'aws' ? host.settings.subnetId : ''))).size,
    ).toBe(3);
  }, 420_000);
});
