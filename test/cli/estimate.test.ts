import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailbackEstimate } from '../../core/estimate/model.js';
import { runCli } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-estimate-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const FLAGS = ['--hosts', '2', '--volumes', '2', '--size-gib', '10', '--used', '0.5', '--write-mibps', '1'];

describe('homebound estimate', () => {
  it('estimates a plan given as flags, as JSON: every pass, convergence, sync time, final pass and downtime', async () => {
    const result = await runCli(['estimate', ...FLAGS, '--json']);

    expect(result.code, result.stderr).toBe(0);
    const estimate = JSON.parse(result.stdout) as FailbackEstimate;
    expect(estimate).toMatchObject({ format: 'homebound.estimate/v1', profile: 'aws', hosts: 2, volumes: 4 });
    // The full pass reads half of four 10 GiB volumes; the last pass is the final one.
    expect(estimate.passes[0]).toMatchObject({ kind: 'full', blocks: 4 * 10 * 2048 * 0.5 });
    expect(estimate.passes.at(-1)).toEqual(estimate.finalPass);
    expect(estimate.passes.filter((pass) => pass.role === 'sync')).toHaveLength(estimate.passesToConvergence);
    expect(estimate.downtimeSeconds).toBeGreaterThan(estimate.finalPass.seconds);
  });

  it('reads the same plan from a file, and prints a pass per line without --json', async () => {
    const plan = join(dir, 'plan.json');
    const volume = { sizeGiB: 10 };
    await writeFile(
      plan,
      JSON.stringify({
        hosts: [{ volumes: [volume, volume] }, { volumes: [volume, volume] }],
        usedFraction: 0.5,
        writes: { mibPerSecond: 1 },
      }),
    );
    const fromFlags = JSON.parse((await runCli(['estimate', ...FLAGS, '--json'])).stdout) as FailbackEstimate;
    const fromFile = JSON.parse((await runCli(['estimate', '--plan', plan, '--json'])).stdout) as FailbackEstimate;
    expect(fromFile.passes.map((pass) => pass.blocks)).toEqual(fromFlags.passes.map((pass) => pass.blocks));
    expect(fromFile.downtimeSeconds).toBe(fromFlags.downtimeSeconds);

    const text = await runCli(['estimate', '--plan', plan]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('pass 1 full: 20.0 GiB in ');
    expect(text.stdout).toContain(`passes to convergence: ${fromFile.passesToConvergence}`);
    expect(text.stdout).toMatch(/downtime \(takeover stopped → failback hosts verified\): /);
  });

  it('takes the profile’s knobs: a lower quota on the local profile makes slower full-pass reads', async () => {
    const at = async (quota: string) =>
      JSON.parse(
        (
          await runCli([
            'estimate',
            '--profile',
            'local',
            '--size-mib',
            '256',
            '--writes-per-second',
            '0',
            '--quota',
            quota,
            '--json',
          ])
        ).stdout,
      ) as FailbackEstimate;
    const [fast, slow] = [await at('1000'), await at('10')];
    expect(slow.passes[0]?.streamSeconds).toBeGreaterThan(5 * (fast.passes[0]?.streamSeconds ?? 0));
    expect(slow.passes[0]?.limitedBy).toBe('snapshot quota');
  });

  it('refuses bad input in one line naming what is wrong', async () => {
    const plan = join(dir, 'bad.json');
    await writeFile(plan, JSON.stringify({ hosts: [{ volumes: [{ sizeGiB: 1, sizeMiB: 3 }] }] }));
    const bad = await runCli(['estimate', '--plan', plan]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('EstimatePlanError: plan hosts.0.volumes.0: give one of sizeGiB and sizeMiB');

    const both = await runCli(['estimate', '--plan', plan, '--size-gib', '3']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--size-gib describes the plan; with --plan put it in the file');

    const none = await runCli(['estimate']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('give --plan FILE, --from-hosts IDS (on AWS), or the plan as flags');

    const quota = await runCli(['estimate', ...FLAGS, '--quota', '0']);
    expect(quota.code).toBe(2);
    expect(quota.stderr).toContain("option '--quota <n>' argument '0' is invalid");
  });

  it('--from-hosts without AWS configured says which variable to set, before any call (exit 3)', async () => {
    const home = join(dir, 'home');
    const result = await runCli(
      ['estimate', '--from-hosts', 'i-0123456789abcdef0'],
      {
        PATH: process.env.PATH ?? '',
        HOME: home,
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      { bareEnv: true },
    );
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('AwsRegionMissingError');
    expect(result.stderr).toContain('AWS_REGION');
  });
});
