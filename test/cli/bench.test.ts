import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '../../bin/homebound.mjs');

describe('homebound bench', () => {
  let dir: string;
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reports both passes and both baselines, and the target ends identical to the source', {
    timeout: 120_000,
  }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'hb-bench-'));
    const json = join(dir, 'bench.json');
    const child = spawn(process.execPath, [CLI, 'bench', '--size-mib', '24', '--change-pct', '5', '--json', json], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);

    const result = JSON.parse(await readFile(json, 'utf8'));
    expect(result.identical).toBe(true);
    expect(result.sourceSha256).toBe(result.targetSha256);
    for (const pass of [result.full, result.incremental]) {
      for (const key of ['seconds', 'bytesChanged', 'bytesRead', 'bytesStaged']) expect(pass[key]).toBeGreaterThan(0);
    }
    // 5% of 48 blocks = 2 changed blocks: the incremental pass reads exactly those.
    expect(result.incremental.bytesRead).toBe(result.incremental.bytesChanged);
    expect(result.incremental.bytesChanged).toBe(2 * 524_288);
    expect(result.baselines.cpSeconds).toBeGreaterThan(0);
    expect(result.baselines.rsyncSeconds).toBeGreaterThan(0);
    expect(result.peakRssMiB).toBeGreaterThan(0);
    // CPU per MiB: present, positive, and the ratio is the full pass's figure over SHA-256's.
    for (const pass of [result.full, result.incremental]) {
      expect(pass.engineCpuMs).toBeGreaterThan(0);
      expect(pass.engineCpuPerMiBMs).toBeCloseTo(pass.engineCpuMs / (pass.bytesRead / 1024 / 1024), 6);
    }
    expect(result.sha256CpuPerMiBMs).toBeGreaterThan(0);
    expect(result.ratios.engineCpuVsSha256).toBeCloseTo(result.full.engineCpuPerMiBMs / result.sha256CpuPerMiBMs, 6);
    expect(stdout).toMatch(/SHA-256 alone/);
    expect(stdout).toMatch(/full pass [\d.]+× SHA-256's/);
    expect(stdout).toMatch(/full pass.*\n.*incremental.*\n.*cp --sparse=always.*\n.*rsync --inplace/);
  });

  it('splits the engine CPU of each pass by stage with --profile-stages', { timeout: 120_000 }, async () => {
    const json = join(dir, 'stages.json');
    const child = spawn(
      process.execPath,
      [CLI, 'bench', '--size-mib', '24', '--change-pct', '5', '--profile-stages', '--json', json],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);

    const result = JSON.parse(await readFile(json, 'utf8'));
    const stages = ['receive', 'hash', 'segment', 'upload', 'download', 'verify', 'write', 'gc', 'other threads'];
    for (const pass of [result.full, result.incremental]) {
      for (const stage of stages) {
        expect(pass.stages[stage].cpuMs).toBeGreaterThanOrEqual(0);
        expect(pass.stages[stage].cpuPerMiBMs).toBeCloseTo(
          pass.stages[stage].cpuMs / (pass.bytesRead / 1024 / 1024),
          6,
        );
      }
    }
    // The full pass receives, hashes, verifies and writes every block it reads: each stage shows CPU.
    for (const stage of ['receive', 'hash', 'verify', 'write'])
      expect(result.full.stages[stage].cpuMs).toBeGreaterThan(0);
    expect(stdout).toMatch(/engine CPU by stage.*\n(.*\n)*receive/);
  });
});
