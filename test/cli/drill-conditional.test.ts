import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OnPremDrillReport } from '../../cli/drill/run-onprem-drill.js';
import { localInstanceType } from '../../core/compute/instance-types.js';
import { volumePath } from '../../core/compute/local-state.js';
import { imageSha256 } from '../../core/image-digest.js';
import { runCli, startCli } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-drill-onprem-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The `KEY=value` lines the drill prints at start. */
function printed(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout.split('\n').flatMap((line) => {
      const match = /^([A-Z][A-Z0-9_]+)=(.*)$/.exec(line);
      return match?.[1] && match[2] !== undefined ? [[match[1], match[2]]] : [];
    }),
  );
}

describe('homebound drill --method conditional-automated', () => {
  it('fails back to vcsim at the default size in under 3 minutes: every VM on with its instance type, every disk identical', async () => {
    const json = join(dir, 'onprem.json');
    const workDir = join(dir, 'work');
    const started = Date.now();
    const result = await runCli([
      'drill',
      '--method',
      'conditional-automated',
      '--auto-approve',
      '--work-dir',
      workDir,
      '--json',
      json,
    ]);
    const seconds = (Date.now() - started) / 1000;

    expect(result.code, result.stderr).toBe(0);
    expect(seconds).toBeLessThan(180);
    const env = printed(result.stdout);
    for (const key of [
      'HOMEBOUND_VSPHERE_URL',
      'HOMEBOUND_VSPHERE_USER',
      'HOMEBOUND_VSPHERE_PASSWORD',
      'HOMEBOUND_DATASTORE_DIR',
      'HOMEBOUND_ONPREM_S3_ENDPOINT',
    ]) {
      expect(env[key], key).toBeTruthy();
    }
    const report = JSON.parse(await readFile(json, 'utf8')) as OnPremDrillReport;
    expect(report.status).toBe('succeeded');
    expect(report.verified).toBe(true);
    expect(report.platform).toBe('vsphere');
    expect(report.passes.length).toBeGreaterThanOrEqual(3);
    expect(report.passes[0]?.kind).toBe('full');
    expect(report.passes.slice(1).every((pass) => pass.kind === 'incremental')).toBe(true);
    const size = localInstanceType(report.hosts[0]?.instanceType ?? '');
    expect(report.vms).toHaveLength(1);
    for (const vm of report.vms) {
      expect(vm).toMatchObject({ powerState: 'poweredOn', numCPU: size.vCpus, memoryMiB: size.memoryMiB });
      expect(vm.disks).toHaveLength(2);
    }
    // Checked here again, not taken from the report: each -flat.vmdk in vcsim's datastore directory against the
    // takeover volume's image as it stopped (the takeover host is stopped, so it no longer changes).
    expect(report.hosts.map((host) => host.state)).toEqual(['stopped']);
    const disks = report.vms.flatMap((vm) => vm.disks);
    for (const volume of report.volumes) {
      const disk = disks.find((candidate) => candidate.path.includes(volume.volumeId));
      expect(disk?.path.startsWith(env.HOMEBOUND_DATASTORE_DIR ?? '-')).toBe(true);
      expect(disk?.path.endsWith(`${volume.volumeId}-flat.vmdk`)).toBe(true);
      const takeover = await imageSha256(volumePath(join(workDir, 'compute'), volume.volumeId));
      expect(await imageSha256(disk?.path ?? '-')).toBe(takeover);
      expect(volume.identical).toBe(true);
    }
    expect(result.stdout).toContain('byte-identical to the takeover volume at stop');
    expect(report.writes.lost).toEqual([]);
  }, 240_000);

  it('--platform manual completes through the operator confirmation; --keep serves the site until SIGTERM', async () => {
    const json = join(dir, 'manual.json');
    const run = startCli([
      'drill',
      '--method',
      'conditional-automated',
      '--platform',
      'manual',
      '--auto-approve',
      '--size-mib',
      '16',
      '--keep',
      '--json',
      json,
    ]);
    let stderr = '';
    let stdout = '';
    run.child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    const kept = new Promise<void>((resolve) => {
      run.child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk;
        if (stderr.includes('--keep: the local cloud and the on-prem site stay up')) resolve();
      });
    });
    await kept;
    const report = JSON.parse(await readFile(json, 'utf8')) as OnPremDrillReport;
    expect(report.status).toBe('succeeded');
    expect(report.verified).toBe(true);
    expect(stderr).toContain('failback hosts confirmed up (--auto-approve)');
    // Still serving after the report: the on-prem store answers (refusing a request without its keys).
    const endpoint = printed(stdout).HOMEBOUND_ONPREM_S3_ENDPOINT;
    expect(endpoint).toBeTruthy();
    const answer = await fetch(`${endpoint}/homebound-onprem-staging`);
    expect(answer.status).toBe(403);
    run.child.kill('SIGTERM');
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    const env = printed(result.stdout);
    expect(env.HOMEBOUND_VSPHERE_URL).toBeUndefined();
    for (const volume of report.volumes) expect(volume.identical).toBe(true);
  }, 180_000);

  it('--fail-at an Activity Task state rolls back as rehearsed: exit 0, takeover host running with every write, disks kept', async () => {
    const json = join(dir, 'fail-at.json');
    const result = await runCli([
      'drill',
      '--method',
      'conditional-automated',
      '--platform',
      'manual',
      '--auto-approve',
      '--fail-at',
      'CutoverOnPrem',
      '--size-mib',
      '16',
      '--json',
      json,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as OnPremDrillReport;
    expect(report.status).toBe('rolled-back');
    expect(report.reason).toContain('injected failure at state CutoverOnPrem');
    expect(report.verified).toBe(true);
    expect(report.hosts.map((host) => host.state)).toEqual(['running']);
    expect(report.writes.lost).toEqual([]);
    expect(report.vms.flatMap((vm) => vm.disks)).toHaveLength(2);
  }, 120_000);

  it('fails a fleet back in waves on vcsim: every VM on, every disk identical, wave 2 started once wave 1 was healthy', async () => {
    const json = join(dir, 'onprem-waves.json');
    const result = await runCli([
      'drill',
      ...['--method', 'conditional-automated', '--hosts', '2', '--waves', '2', '--volumes', '1', '--size-mib', '8'],
      ...['--max-passes', '3', '--auto-approve', '--json', json],
    ]);

    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as OnPremDrillReport;
    expect(report.status).toBe('succeeded');
    expect(report.verified).toBe(true);
    expect(report.hosts.map((host) => [host.name, host.state, host.wave])).toEqual([
      ['drill-app-01', 'stopped', 1],
      ['drill-app-02', 'stopped', 2],
    ]);
    expect(report.vms.map((vm) => vm.powerState)).toEqual(['poweredOn', 'poweredOn']);
    expect(report.volumes).toHaveLength(2);
    for (const volume of report.volumes) expect(volume.identical).toBe(true);
    expect(report.writes.lost).toEqual([]);
    const [first, second] = report.waves ?? [];
    expect([first?.wave, second?.wave]).toEqual([1, 2]);
    // The takeover hosts stopped last wave first; wave 2's VMs were started only once wave 1's were healthy.
    expect(Date.parse(second?.takeoverStoppedAt ?? '')).toBeLessThan(Date.parse(first?.takeoverStoppedAt ?? ''));
    expect(Date.parse(second?.failbackStartedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(first?.healthyAt ?? ''));
  }, 240_000);

  it('refuses options that do not apply, before anything starts (exit 2)', async () => {
    const html = await runCli([
      'drill',
      '--method',
      'conditional-automated',
      '--auto-approve',
      '--html',
      join(dir, 'x.html'),
    ]);
    expect(html.code).toBe(2);
    expect(html.stderr).toContain('--html is not available for the conditional-automated drill');
    const keep = await runCli(['drill', '--auto-approve', '--keep']);
    expect(keep.code).toBe(2);
    expect(keep.stderr).toContain('--platform and --keep are options of the on-prem drill');
    const platform = await runCli(['drill', '--method', 'conditional-automated', '--platform', 'hyperv']);
    expect(platform.code).toBe(2);
    expect(platform.stderr).toContain('hyperv');
  });
});
