import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../cli/drill/drill-report.js';
import { CLI, runCli, startCli } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-drill-interrupt-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SMALL = ['--volumes', '1', '--size-mib', '64', '--writes-per-second', '40', '--threshold-mib', '32'];

/** Pids of processes whose command line names a path under `path` (the drill's gateways do). */
async function processesUnder(path: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg.startsWith(`${path}/`))) pids.push(Number(entry));
  }
  return pids;
}

/** Starts a drill and resolves once its first pass streams, with the work dir it printed. */
async function drillMidPass(args: readonly string[]) {
  const drill = startCli(['drill', ...SMALL, '--auto-approve', ...args]);
  let stderr = '';
  const workDir = await new Promise<string>((resolve, reject) => {
    drill.child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
      const found = /work dir (\S+)/.exec(stderr);
      if (found?.[1] && stderr.includes('streaming pass 1')) resolve(found[1]);
    });
    drill.child.on('exit', () => reject(new Error(`drill exited before its first pass: ${stderr}`)));
  });
  return { ...drill, workDir };
}

describe('homebound drill interrupted', () => {
  it('on SIGINT mid-pass says so, stops its gateway, removes its temp dir and exits 130', async () => {
    const drill = await drillMidPass([]);
    expect(await processesUnder(drill.workDir)).not.toEqual([]);

    drill.child.kill('SIGINT');
    const result = await drill.done;

    expect(result.code, result.stderr).toBe(130);
    expect(result.stderr).toContain('interrupted, cleaning up');
    expect(existsSync(drill.workDir)).toBe(false);
    expect(await processesUnder(drill.workDir)).toEqual([]);
  });

  it('after a SIGKILL, a drill on the same --work-dir says where the dead one stopped, ends its gateway and starts afresh', async () => {
    const workDir = join(dir, 'killed');
    const killed = await drillMidPass(['--work-dir', workDir]);
    killed.child.kill('SIGKILL');
    await killed.done;
    // Its gateway outlives it for a moment (until it notices its output pipe is gone).
    const orphans = await processesUnder(workDir);

    const json = join(dir, 'afresh.json');
    const result = await runCli(['drill', ...SMALL, '--auto-approve', '--work-dir', workDir, '--json', json]);

    expect(orphans).not.toEqual([]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /a previous drill \(run drill-\S+\) was interrupted here at [\w?]+; its hosts were stopped( \(\d+ leftover process(es)? ended\))?; removing its local cloud and starting afresh/,
    );
    const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;
    expect(report.status).toBe('succeeded');
    expect(report.hosts.map((host) => host.role).sort()).toEqual(['failback', 'gateway', 'takeover']);
    expect(report.hosts.filter((host) => host.state === 'running')).toHaveLength(1);
    expect(await processesUnder(workDir)).toEqual([]);
  });

  it('after a SIGKILL, the next drill removes the temp dir the killed one left', async () => {
    const killed = await drillMidPass([]);
    killed.child.kill('SIGKILL');
    await killed.done;
    expect(existsSync(killed.workDir)).toBe(true);

    const result = await runCli(['drill', ...SMALL, '--auto-approve', '--fail-at', 'ValidateRequest']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`removed ${killed.workDir}, left by a drill that was killed at `);
    expect(existsSync(killed.workDir)).toBe(false);
  });

  it('at the terminal decision prompt, Ctrl-C interrupts the drill (readline does not swallow it)', async () => {
    // util-linux `script` gives the drill a terminal; a Ctrl-C typed into it reaches the drill as on a real one.
    const command = [process.execPath, CLI, 'drill', ...SMALL, '--approval-timeout', '20'].join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null']);
    let output = '';
    let typed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
      // One Ctrl-C only: a paused readline lets a second one through as a plain SIGINT.
      if (output.includes('decision>') && !typed) {
        typed = true;
        child.stdin.write('\x03');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));

    expect(output).toContain('decision>');
    expect(output).toContain('interrupted, cleaning up');
    expect(code, output).toBe(130);
  });
});
