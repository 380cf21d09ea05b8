import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../cli/drill/drill-report.js';
import { runCli } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-drill-fail-at-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SMALL = ['--volumes', '1', '--size-mib', '16', '--writes-per-second', '40', '--threshold-mib', '32'];

async function drill(name: string, args: readonly string[]) {
  const json = join(dir, `${name}.json`);
  const result = await runCli(['drill', ...SMALL, ...args, '--json', json]);
  const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;
  return { ...result, report };
}

describe('homebound drill --fail-at', () => {
  it('says at start that --fail-at Rollback alone is never reached, and ends "not rehearsed", exit 4', async () => {
    const { code, stdout, stderr, report } = await drill('rollback-alone', ['--auto-approve', '--fail-at', 'Rollback']);

    expect(stderr).toContain('warning: --fail-at Rollback will not be reached by this rehearsal');
    expect(stderr).toContain('--reject');
    expect(report.status).toBe('succeeded');
    expect(report.failAtNotReached).toEqual(['Rollback']);
    expect(stdout).toContain('--fail-at Rollback: not reached, so not rehearsed');
    expect(code).toBe(4);
  });

  it('rehearses a failing rollback with --fail-at Cutover --fail-at Rollback: rollback-failed, what is left by hand', async () => {
    const { code, stdout, stderr, report } = await drill('failing-rollback', [
      '--auto-approve',
      '--fail-at',
      'Cutover',
      '--fail-at',
      'Rollback',
    ]);

    expect(code, stderr).toBe(0);
    expect(stderr).not.toContain('warning:');
    expect(report.status).toBe('rollback-failed');
    expect(report.reason).toContain('RollbackFailedError');
    expect(report.failures.map((failure) => failure.state)).toEqual(['Cutover', 'Rollback']);
    expect(report.writes.lost).toEqual([]);
    const takeover = report.hosts.find((host) => host.role === 'takeover');
    expect(takeover?.state).toBe('stopped');
    expect(report.leftToDo).toContain(
      `start takeover host ${takeover?.hostId} (stopped): production is down until it runs`,
    );
    expect(report.leftToDo.some((item) => item.startsWith('terminate sync gateway'))).toBe(true);
    expect(report.downtimeSeconds).toBeNull();
    expect(stdout).toContain('status: rollback-failed');
    expect(stdout).toContain('left to do by hand:');
  });

  it('says a --fail-at ValidateRequest run was refused before anything was created, exit 0', async () => {
    const { code, stdout, stderr, report } = await drill('validate', [
      '--auto-approve',
      '--fail-at',
      'ValidateRequest',
    ]);

    expect(code, stderr).toBe(0);
    expect(report.status).toBe('refused');
    expect(report.verified).toBe(true);
    expect(report.hosts.map((host) => [host.role, host.state])).toEqual([['takeover', 'running']]);
    expect(report.volumes.every((volume) => volume.targetVolumeId === undefined)).toBe(true);
    expect(stdout).toContain('verified: nothing to verify: refused before anything was created');
    expect(stdout).not.toContain('verified: false');
    expect(stdout).not.toContain('differs');
  });

  it('still cleans up after --fail-at RetireTakeoverHosts, and reports the passes and identical volumes', async () => {
    const { code, stdout, stderr, report } = await drill('retire', [
      '--auto-approve',
      '--fail-at',
      'RetireTakeoverHosts',
    ]);

    expect(code, stderr).toBe(0);
    expect(report.status).toBe('failed-after-cutover');
    expect(report.verified).toBe(true);
    expect(report.hosts.find((host) => host.role === 'gateway')?.state).toBe('terminated');
    expect(report.hosts.find((host) => host.role === 'failback')?.state).toBe('running');
    expect(report.passes.length).toBeGreaterThan(1);
    expect(report.passes.at(-1)?.final).toBe(true);
    for (const volume of report.volumes) expect(volume.identical).toBe(true);
    expect(report.leftToDo).toHaveLength(1);
    expect(report.leftToDo[0]).toMatch(/^retire takeover host i-/);
    expect(stdout).toContain('failed: RetireTakeoverHosts — DrillInjectedFailure');
  });

  it('builds the summary from what the run did when --fail-at Report leaves no run report', async () => {
    const { code, stderr, report } = await drill('report', ['--auto-approve', '--fail-at', 'Report']);

    expect(code, stderr).toBe(0);
    expect(report.status).toBe('failed-after-cutover');
    expect(report.passes.length).toBeGreaterThan(1);
    expect(report.bytesChanged).toBeGreaterThan(0);
    for (const volume of report.volumes) expect(volume.identical).toBe(true);
    expect(report.downtimeSeconds).toBeGreaterThan(0);
    expect(report.leftToDo).toEqual([]);
  });

  it('rehearses a failed clean-up after a rollback with --reject --fail-at CleanUpAfterRollback', async () => {
    const { code, stderr, report } = await drill('clean-up-after-rollback', [
      '--reject',
      '--fail-at',
      'CleanUpAfterRollback',
    ]);

    expect(code, stderr).toBe(0);
    expect(report.status).toBe('rolled-back');
    expect(report.failures.map((failure) => failure.state)).toEqual(['RequestApproval', 'CleanUpAfterRollback']);
    const gateway = report.hosts.find((host) => host.role === 'gateway');
    expect(gateway?.state).toBe('running');
    expect(report.leftToDo).toContain(`terminate sync gateway ${gateway?.hostId} (running)`);
    // CleanUpAfterRollback did not run, so the rejected run's failback host is only stopped: it keeps its address.
    const failback = report.hosts.find((host) => host.role === 'failback');
    expect(failback?.state).toBe('stopped');
    expect(report.leftToDo).toContain(
      `terminate failback host ${failback?.hostId} (stopped): it still holds its private address`,
    );
  });
});
