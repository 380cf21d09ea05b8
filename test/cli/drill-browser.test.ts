import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../cli/drill/drill-report.js';
import { startCli } from '../support/cli.js';

/** Debian's chromium (.ci/run installs it); playwright-core downloads no browser of its own. */
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SMALL = ['--volumes', '1', '--size-mib', '16', '--writes-per-second', '40', '--threshold-mib', '32'];

let browser: Browser;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-drill-browser-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
});
afterAll(async () => {
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Starts `homebound drill` without --auto-approve and resolves with the `Approval page:` URL it prints. */
async function drillWaitingForApproval(json: string) {
  const drill = startCli(['drill', ...SMALL, '--decide-on-page', '--json', json]);
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    drill.child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
      const found = /^Approval page: (\S+)$/m.exec(stderr);
      if (found?.[1]) resolve(found[1]);
    });
    drill.child.on('exit', () => reject(new Error(`drill exited before asking: ${stderr}`)));
  });
  return { ...drill, url };
}

describe('homebound drill decided in a browser (Debian chromium)', () => {
  it('approves through the page form: opening and reloading decide nothing, the button does, the drill completes', async () => {
    const json = join(dir, 'approved.json');
    const drill = await drillWaitingForApproval(json);
    const page = await browser.newPage();

    await page.goto(drill.url);
    await page.reload();
    await expect(page.locator('h1').textContent()).resolves.toMatch(/^Approve the cutover of run drill-/);
    await expect(page.locator('body').textContent()).resolves.toContain('drill-operator@localhost');
    await page.getByRole('button', { name: 'Approve cutover' }).click();
    await page.waitForSelector('h1[data-outcome="approved"]');

    const result = await drill.done;
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;
    expect(report.status).toBe('succeeded');
    expect(report.verified).toBe(true);
    expect(report.decision).toMatchObject({
      outcome: 'approved',
      approver: 'email:drill-operator@localhost',
      channel: 'page',
    });
    await page.close();
  });

  it('rejects through the page form and the drill rolls back with nothing lost', async () => {
    const json = join(dir, 'rejected.json');
    const drill = await drillWaitingForApproval(json);
    const page = await browser.newPage();

    await page.goto(drill.url);
    await page.getByRole('button', { name: 'Reject (roll back)' }).click();
    await page.waitForSelector('h1[data-outcome="rejected"]');
    // The drill closes its page as soon as the run has ended, so the browser stays where it is.
    await expect(page.locator('body').textContent()).resolves.toContain('The run rolls back');

    const result = await drill.done;
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;
    expect(report.status).toBe('rolled-back');
    expect(report.verified).toBe(true);
    expect(report.writes.lost).toEqual([]);
    expect(report.decision).toMatchObject({ outcome: 'rejected', channel: 'page' });
    expect(report.hosts.find((host) => host.role === 'takeover')?.state).toBe('running');
    await page.close();
  });
});
