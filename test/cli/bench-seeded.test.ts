import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench } from '../../cli/bench/run-bench.js';
import { InvalidInputError } from '../../core/errors.js';

const CLI = join(import.meta.dirname, '../../bin/homebound.mjs');
const BLOCK = 524_288;

function runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('homebound bench --divergence-pct', () => {
  let dir: string;
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('runs a seeded pass beside the full pass: it carries exactly the blocks made to differ and ends identical', {
    timeout: 180_000,
  }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'hb-bench-seeded-'));
    const json = join(dir, 'bench.json');
    const { code, stdout, stderr } = await runCli([
      'bench',
      '--size-mib',
      '64',
      '--divergence-pct',
      '10',
      '--json',
      json,
    ]);
    expect(code, stderr).toBe(0);

    const result = JSON.parse(await readFile(json, 'utf8'));
    const { seeded, full } = result;
    // Both targets byte-identical to the volume: the full one (after its incremental pass too) and the seeded one.
    expect(result.identical).toBe(true);
    expect(result.targetSha256).toBe(result.sourceSha256);
    expect(seeded.identical).toBe(true);
    expect(seeded.targetSha256).toBe(seeded.sourceSha256);
    // 10% of 128 blocks; the scenario covers both directions: data turned to zeros, data where the volume is zero.
    expect(seeded.blocksMadeDiffering).toBe(13);
    expect(seeded.blocksMadeZero).toBeGreaterThan(0);
    expect(seeded.blocksMadeDataWhereZero).toBeGreaterThan(0);
    expect(seeded.blocksDiffering).toBe(seeded.blocksMadeDiffering);
    // Every block the snapshot lists was compared: the blocks the full pass carried (its bytesChanged / 512 KiB).
    expect(seeded.blocksCompared).toBe(full.blocksChanged);
    expect(seeded.bytesStaged).toBeLessThanOrEqual(1.1 * seeded.blocksDiffering * BLOCK);
    expect(seeded.bytesStaged).toBeLessThan(full.bytesStaged / 4);
    expect(seeded.stagedVsFull).toBeCloseTo(seeded.bytesStaged / full.bytesStaged, 10);
    expect(seeded.hashSeconds).toBeGreaterThan(0);
    expect(seeded.hashMiBps).toBeCloseTo(64 / seeded.hashSeconds, 6);
    expect(seeded.hashListBytes).toBe(128 * 32);
    expect(seeded.seconds).toBeGreaterThan(0);
    expect(stdout).toMatch(/seeded pass — seed 10% different \(13 blocks made to differ/);
    expect(stdout).toMatch(/compared \d+ blocks, 13 differing;.*staged [\d.]+ MiB = [\d.]+% of the full pass's/);
    expect(stdout).toMatch(/seeded target identical to the volume: yes/);
  });

  it('refuses --divergence-pct 0, 101 and abc naming the flag, before any work', { timeout: 60_000 }, async () => {
    const runs = await Promise.all(
      ['0', '101', 'abc'].map((value) => runCli(['bench', '--size-mib', '8', '--divergence-pct', value])),
    );
    for (const [i, value] of ['0', '101', 'abc'].entries()) {
      const { code, stderr } = runs[i] ?? { code: undefined, stderr: '' };
      expect(code, stderr).toBe(2);
      expect(stderr).toMatch(new RegExp(`--divergence-pct <pct>' argument '${value}' is invalid`));
      expect(stderr).not.toMatch(/generating/);
    }
  });

  it('refuses a divergencePct outside (0, 100] with InvalidInputError naming it', async () => {
    const bench = runBench({ sizeMiB: 8, changePct: 1, seed: 1, quota: 1000, latencyMs: 0, divergencePct: 0 });
    await expect(bench).rejects.toThrow(InvalidInputError);
    await expect(bench).rejects.toThrow(/divergencePct must be .* got 0/);
  });
});
