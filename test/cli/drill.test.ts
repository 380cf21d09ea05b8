import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../cli/drill/drill-report.js';
import { runCli, startCli } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-drill-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SMALL = ['--size-mib', '16', '--writes-per-second', '40', '--threshold-mib', '32'];

describe('homebound drill', () => {
  it('fails back with --auto-approve and writes JSON and HTML reports that agree with what happened', async () => {
    const json = join(dir, 'drill.json');
    const html = join(dir, 'drill.html');
    const result = await runCli(['drill', '--auto-approve', ...SMALL, '--json', json, '--html', html]);

    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;
    expect(report.status).toBe('succeeded');
    expect(report.verified).toBe(true);
    expect(report.volumes).toHaveLength(2);
    for (const volume of report.volumes) expect(volume.targetSha256).toBe(volume.sourceSha256);
    expect(report.passes[0]?.kind).toBe('full');
    expect(report.passes.at(-1)?.final).toBe(true);
    expect(report.downtimeSeconds).toBeGreaterThan(0);
    const cutover = report.phases.find((phase) => phase.name.startsWith('cutover'));
    expect(cutover?.seconds).toBe(report.downtimeSeconds);
    const shown = report.downtimeSeconds?.toFixed(2);
    expect(result.stdout).toContain(`downtime (takeover stopped → failback hosts verified): ${shown} s`);
    expect(result.stdout).toContain(`  cutover (takeover stopped → failback verified): ${shown} s`);
    expect(report.writes.writes).toBeGreaterThan(0);
    expect(report.writes.lost).toEqual([]);
    const roles = Object.fromEntries(report.hosts.map((host) => [host.role, host.state]));
    expect(roles).toEqual({ takeover: 'stopped', gateway: 'terminated', failback: 'running' });
    expect(result.stdout).toContain('verified: true');

    const page = await readFile(html, 'utf8');
    expect(page).toContain('data-status="succeeded" data-verified="true"');
    const bars = [...page.matchAll(/data-pass="(\d+)" data-bytes-changed="(\d+)"/g)].map((m) => [
      Number(m[1]),
      Number(m[2]),
    ]);
    expect(bars).toEqual(report.passes.map((pass) => [pass.number, pass.bytesChanged]));
  });

  it('rehearses a rejection with --reject: rolled back, takeover host running, nothing lost, exit 0', async () => {
    const json = join(dir, 'reject.json');
    const result = await runCli(['drill', '--reject', ...SMALL, '--json', json]);

    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;
    expect(report.status).toBe('rolled-back');
    expect(report.reason).toContain('cutover rejected');
    expect(report.verified).toBe(true);
    expect(report.hosts.find((host) => host.role === 'takeover')?.state).toBe('running');
    expect(report.downtimeSeconds).toBeNull();
    // The takeover host served on after the rollback: each target is behind, and the summary says why.
    const differing = report.volumes.filter((volume) => !volume.identical);
    expect(differing.length).toBeGreaterThan(0);
    for (const volume of differing) {
      expect(result.stdout).toContain(
        `volume ${volume.sourceVolumeId} → ${volume.targetVolumeId}: differs, as expected after a rollback: the takeover host kept serving, so the target holds an older pass`,
      );
    }
    expect(result.stdout).toContain(
      `verified instead: every write the takeover workload made (${report.writes.writes}) is on the takeover volumes (0 lost)`,
    );
  });

  it('rehearses a failure after the takeover host stopped with --fail-at Cutover: rolled back, nothing lost', async () => {
    const json = join(dir, 'fail-at.json');
    const result = await runCli(['drill', '--auto-approve', '--fail-at', 'Cutover', ...SMALL, '--json', json]);

    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;
    expect(report.status).toBe('rolled-back');
    expect(report.reason).toContain('DrillInjectedFailure');
    expect(report.verified).toBe(true);
    expect(report.writes.lost).toEqual([]);
    expect(report.hosts.find((host) => host.role === 'takeover')?.state).toBe('running');
    expect(report.phases.map((phase) => phase.name)).toContain('cutover (takeover stopped → failback verified)');
    // The takeover host did stop: the downtime runs until it serves again after the rollback.
    expect(report.downtimeSeconds).toBeGreaterThan(0);
    expect(report.downtimeUntil).toBe('takeover hosts serving again after the rollback');
    expect(result.stdout).toMatch(
      /downtime \(takeover stopped → takeover hosts serving again after the rollback\): \d+\.\d\d s/,
    );
    expect(result.stdout).not.toContain('never stopped');
  });

  it('rejects --fail-at naming a state that is not a Task, listing the ones that are', async () => {
    const result = await runCli(['drill', '--auto-approve', '--fail-at', 'NoSuchState']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('"NoSuchState" is not a Task state');
    expect(result.stderr).toContain('Cutover');
  });

  it('refuses an unknown --method, naming the methods it knows (exit 2), before anything starts', async () => {
    const result = await runCli(['drill', '--auto-approve', '--method', 'teleport', ...SMALL]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('"teleport" is not a failback method; choose one of automated');
    expect(result.stderr).not.toContain('local cloud up');
  });

  it('refuses at once without a terminal and without --auto-approve/--reject, showing how to decide up front', async () => {
    const result = await runCli(['drill', '--fail-at', 'Cutover', ...SMALL, '--approval-timeout', '5']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no terminal to ask for the cutover decision');
    expect(result.stderr).toContain('homebound drill --fail-at Cutover --auto-approve');
    expect(result.stderr).toContain('--decide-on-page');
    // Refused before the local cloud started, not after waiting out the approval: exit 2, nothing started.
    expect(result.stderr).not.toContain('local cloud up');
  });

  it('waits for a decision on the localhost page: GET and HEAD decide nothing, a POST with the nonce approves', async () => {
    const { child, done } = startCli(['drill', ...SMALL, '--decide-on-page']);
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk;
        const found = /^Approval page: (http:\/\/127\.0\.0\.1:\d+\/approvals\/\S+)$/m.exec(stderr);
        if (found?.[1]) resolve(found[1]);
      });
      child.on('exit', () => reject(new Error(`drill exited before asking: ${stderr}`)));
    });
    expect(url).not.toMatch(/token/i);

    const first = await fetch(url);
    const head = await fetch(url, { method: 'HEAD' });
    const again = await fetch(url);
    expect([first.status, head.status, again.status]).toEqual([200, 200, 200]);
    const form = await again.text();
    expect(form).toContain('Approve the cutover');
    const forged = await fetch(url, {
      method: 'POST',
      body: new URLSearchParams({ decision: 'approve', nonce: 'guess' }),
    });
    expect(forged.status).toBe(403);
    const nonce = /name="nonce" value="([\w.-]+)"/.exec(form)?.[1] ?? '';
    const approved = await fetch(url, { method: 'POST', body: new URLSearchParams({ decision: 'approve', nonce }) });
    expect(approved.status).toBe(200);

    const result = await done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('status: succeeded');
    expect(result.stdout).toContain('verified: true');
    expect(result.stdout).toContain('cutover approved by email:drill-operator@localhost via page');
  });
});
