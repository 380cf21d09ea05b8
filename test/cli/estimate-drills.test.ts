import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MIX } from '../../cli/bench/volume-generator.js';
import type { DrillReport } from '../../cli/drill/drill-report.js';
import { BLOCK_SIZE } from '../../core/blocks.js';
import type { FailbackEstimate } from '../../core/estimate/model.js';
import { runCli } from '../support/cli.js';

/**
 * The drills' plan: one host, one 32 MiB volume, 2 block writes a second, converged at 1 MiB or after 3 passes. Small,
 * so the drills stay short and the reads are bound by the quota set, not by the CPU a busy machine lends them; the
 * pass limit keeps the slower drill's tail of small passes (each a little over the threshold) from making the count
 * hinge on one write more or less (docs/estimate.md).
 */
const PLAN = { sizeMiB: 32, writesPerSecond: 2, thresholdMiB: 1, maxPasses: 3 };

/**
 * Two local-cloud throughputs: AWS's 1,000 GetSnapshotBlock/s per snapshot with 0.6 s and with 1.5 s per call. Sleeps
 * in the local EBS server, one per List call and per round of 64 reads: a busy machine stretches them less than it
 * does the CPU work of a pass (an unthrottled local cloud would time the neighbours) or a governor pacing each call
 * to a low quota.
 */
const THROUGHPUTS = [
  { name: 'fast', quota: 1000, latencyMs: 600 },
  { name: 'slow', quota: 1000, latencyMs: 1500 },
] as const;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-estimate-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The passes the run made before the cutover decision: the ones that brought it to convergence. */
function passesToConvergence(report: DrillReport): number {
  const decidedAt = Date.parse(report.decision?.decidedAt ?? '');
  return report.passes.filter((pass) => Date.parse(pass.startedAt ?? '') < decidedAt).length;
}

function within(actual: number, predicted: number, share: number): boolean {
  return Math.abs(predicted - actual) <= share * actual;
}

describe('homebound estimate against drills', () => {
  it('predicts each drill’s passes to convergence exactly and its sync time and downtime within ±30 %', {
    timeout: 180_000,
  }, async () => {
    const outcomes: {
      name: string;
      drill: number;
      estimate: FailbackEstimate;
      report: DrillReport;
    }[] = [];
    for (const throughput of THROUGHPUTS) {
      const json = join(dir, `${throughput.name}.json`);
      const drill = await runCli([
        'drill',
        '--auto-approve',
        '--volumes',
        '1',
        '--size-mib',
        String(PLAN.sizeMiB),
        '--writes-per-second',
        String(PLAN.writesPerSecond),
        '--threshold-mib',
        String(PLAN.thresholdMiB),
        '--max-passes',
        String(PLAN.maxPasses),
        '--ebs-quota',
        String(throughput.quota),
        '--ebs-latency-ms',
        String(throughput.latencyMs),
        '--json',
        json,
      ]);
      expect(drill.code, drill.stderr).toBe(0);
      const report = JSON.parse(await readFile(json, 'utf8')) as DrillReport;

      const estimated = await runCli([
        'estimate',
        '--json',
        '--profile',
        'local',
        '--quota',
        String(throughput.quota),
        '--latency-ms',
        String(throughput.latencyMs),
        '--volumes',
        '1',
        '--size-mib',
        String(PLAN.sizeMiB),
        // The drill fills a volume with the bench's mix: everything but its holes is written.
        '--used',
        String(1 - DEFAULT_MIX.hole),
        '--writes-per-second',
        String(PLAN.writesPerSecond),
        // Its workload writes whole blocks.
        '--write-kib',
        String(BLOCK_SIZE / 1024),
        '--threshold-mib',
        String(PLAN.thresholdMiB),
        '--max-passes',
        String(PLAN.maxPasses),
      ]);
      expect(estimated.code, estimated.stderr).toBe(0);
      const estimate = JSON.parse(estimated.stdout) as FailbackEstimate;
      outcomes.push({ name: throughput.name, drill: passesToConvergence(report), estimate, report });
    }

    const lines = outcomes.map(({ name, drill, estimate, report }) => {
      const sync = report.passes.reduce((sum, pass) => sum + pass.seconds, 0);
      return {
        name,
        drillPasses: report.passes.map((pass) => [pass.blocks, pass.seconds]),
        estimatedPasses: estimate.passes.map((pass) => [pass.blocks, Number(pass.seconds.toFixed(3))]),
        passes: [drill, estimate.passesToConvergence],
        sync: [sync, estimate.syncSeconds],
        downtime: [report.downtimeSeconds ?? Number.NaN, estimate.downtimeSeconds],
      };
    });
    console.info(JSON.stringify(lines));
    for (const { name, passes, sync, downtime } of lines) {
      expect(passes[1], `${name}: passes to convergence (drill, estimate)`).toBe(passes[0]);
      expect(within(sync[0] ?? 0, sync[1] ?? 0, 0.3), `${name}: sync seconds (drill, estimate) ${sync}`).toBe(true);
      expect(within(downtime[0] ?? 0, downtime[1] ?? 0, 0.3), `${name}: downtime (drill, estimate) ${downtime}`).toBe(
        true,
      );
    }
    // The throughput set is what made the difference, in the drills and in the estimates alike.
    const [fast, slow] = lines;
    expect(slow?.sync[0]).toBeGreaterThan(fast?.sync[0] ?? 0);
    expect(slow?.sync[1]).toBeGreaterThan(fast?.sync[1] ?? 0);
  });
});
