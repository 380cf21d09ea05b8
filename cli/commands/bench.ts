import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { type BenchResult, type PassFigures, runBench } from '../bench/run-bench.js';
import type { SeededFigures } from '../bench/seeded-pass.js';
import { STAGES, type StageFigures } from '../bench/stage-profile.js';
import { addEbsFaultOptions, ebsFaultsFrom, integerAtLeast, numberBetween } from '../options.js';
import { writableDir, writableFileParent } from '../paths.js';

interface BenchCliOptions {
  sizeMib: number;
  changePct: number;
  json?: string;
  seed: number;
  quota: number;
  latencyMs: number;
  workDir?: string;
  divergencePct?: number;
  profileStages?: string | boolean;
}

/** `homebound bench`: speed and memory figures of a full and an incremental pass against cp and rsync. */
export function registerBench(program: Command): void {
  const bench = program
    .command('bench')
    .description('Measure a full and an incremental pass through the local cloud against cp and rsync')
    .option('--size-mib <n>', 'volume size in MiB', integerAtLeast(1), 2048)
    .option('--change-pct <pct>', 'share of blocks changed before the incremental pass', numberBetween(0.001, 100), 1)
    .option('--json <file>', 'write the figures as JSON')
    .option('--seed <n>', 'seed of the generated volume', integerAtLeast(0), 1)
    .option('--quota <n>', 'local EBS per-snapshot quota, requests/s (AWS default 1000)', integerAtLeast(1), 1000)
    .option('--latency-ms <n>', 'local EBS latency per call', integerAtLeast(0), 0)
    .option('--work-dir <dir>', 'keep the volumes here instead of a temporary directory')
    .option(
      '--divergence-pct <pct>',
      'also a seeded pass of the same volume, from a seed differing in this share of blocks',
      numberBetween(0.001, 100),
    )
    .option(
      '--profile-stages [dir]',
      "split each pass's engine CPU by stage with V8's sampling profiler (costs CPU itself); raw profiles into dir",
    )
    .action(async (options: BenchCliOptions) => {
      if (options.workDir !== undefined) await writableDir('--work-dir', options.workDir);
      if (options.json !== undefined) await writableFileParent('--json', options.json);
      const profileDir = typeof options.profileStages === 'string' ? options.profileStages : undefined;
      if (profileDir !== undefined) await writableDir('--profile-stages', profileDir);
      const result = await runBench({
        sizeMiB: options.sizeMib,
        changePct: options.changePct,
        seed: options.seed,
        quota: options.quota,
        latencyMs: options.latencyMs,
        faults: ebsFaultsFrom(options, 'ebs-'),
        workDir: options.workDir,
        divergencePct: options.divergencePct,
        profileStages: options.profileStages !== undefined,
        profileDir,
        log: (line) => console.error(`… ${line}`),
      });
      console.log(formatTable(result));
      if (result.full.stages && result.incremental.stages)
        console.log(formatStages(result.full.stages, result.incremental.stages));
      if (result.seeded) console.log(formatSeeded(result.seeded, result.full));
      if (options.json) await writeFile(options.json, `${JSON.stringify(result, null, 2)}\n`);
      if (!result.identical) {
        const fullDiffers = result.targetSha256 !== result.sourceSha256;
        const seededDiffers = result.seeded?.identical === false;
        const which =
          fullDiffers && seededDiffers ? 'both targets are' : seededDiffers ? 'the seeded target is' : 'the target is';
        console.error(`homebound: ${which} NOT identical to the source`);
        process.exitCode = 4;
      }
    }); // Fault rehearsals; --quota and --latency-ms above are the bench's realism knobs.
  addEbsFaultOptions(bench, 'ebs-', ['throttleRate', 'errorRate', 'corruptBlocks', 'shortPages']);
}

function formatStages(full: StageFigures, incremental: StageFigures): string {
  const rows = [
    ['engine CPU by stage', 'full ms/MiB', 'full ms', 'incr. ms/MiB', 'incr. ms'],
    ...STAGES.map((stage) => [
      stage,
      full[stage].cpuPerMiBMs.toFixed(2),
      full[stage].cpuMs.toFixed(0),
      incremental[stage].cpuPerMiBMs.toFixed(2),
      incremental[stage].cpuMs.toFixed(0),
    ]),
  ];
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0))).join('  '),
    )
    .join('\n');
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const s = (seconds: number) => `${seconds.toFixed(2)} s`;

function formatTable(r: BenchResult): string {
  const passRow = (name: string, pass: PassFigures) => [
    name,
    s(pass.seconds),
    mib(pass.bytesChanged),
    mib(pass.bytesRead),
    mib(pass.bytesStaged),
    pass.mibPerSecond.toFixed(0),
    String(pass.throttled),
    pass.engineCpuPerMiBMs.toFixed(2),
  ];
  const rows = [
    ['', 'seconds', 'changed', 'read', 'staged', 'MiB/s', 'throttled', 'CPU ms/MiB'],
    passRow('full pass', r.full),
    passRow('incremental', r.incremental),
    ['cp --sparse=always', s(r.baselines.cpSeconds), '', '', '', '', '', ''],
    ['rsync --inplace', s(r.baselines.rsyncSeconds), '', '', '', '', '', ''],
    ['SHA-256 alone', '', '', mib(r.full.bytesRead), '', '', '', r.sha256CpuPerMiBMs.toFixed(2)],
  ];
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length))) ?? [];
  const lines = rows.map((row) =>
    row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0))).join('  '),
  );
  return [
    `homebound bench — ${r.sizeMiB} MiB volume, ${r.changePct}% of blocks changed, local EBS quota ${r.localCloud.quotaPerSnapshot}/s, latency ${r.localCloud.latencyMs} ms`,
    ...lines,
    `full pass / cp: ${r.ratios.fullVsCp.toFixed(1)}×   rsync / incremental: ${r.ratios.rsyncVsIncremental.toFixed(1)}× (target ≥ 10×)`,
    `engine CPU per MiB (this process: streamer + applier): full pass ${r.ratios.engineCpuVsSha256.toFixed(1)}× SHA-256's (goal ≤ 4×, floor 2×)`,
    `target identical to source: ${r.identical ? 'yes' : 'NO'} (sha256 ${r.targetSha256.slice(0, 16)}…)   peak RSS: ${r.peakRssMiB.toFixed(0)} MiB`,
  ].join('\n');
}

/** The seeded pass beside the full pass of the same snapshot: what the seed saved and what it cost. */
function formatSeeded(seeded: SeededFigures, full: PassFigures): string {
  const percent = (share: number) => `${(share * 100).toFixed(share < 0.1 ? 2 : 1)}%`;
  return [
    `seeded pass — seed ${seeded.divergencePct}% different (${seeded.blocksMadeDiffering} blocks made to differ: ${seeded.blocksMadeZero} zeroed, ${seeded.blocksMadeDataWhereZero} written where the volume is zero)`,
    `  compared ${seeded.blocksCompared} blocks, ${seeded.blocksDiffering} differing; read ${mib(seeded.bytesRead)}, staged ${mib(seeded.bytesStaged)} = ${percent(seeded.stagedVsFull)} of the full pass's ${mib(full.bytesStaged)}`,
    `  ${s(seeded.seconds)} against ${s(full.seconds)} for the full pass; the target side hashed the seed in ${s(seeded.hashSeconds)} (${seeded.hashMiBps.toFixed(0)} MiB/s), a ${(seeded.hashListBytes / 1024).toFixed(0)} KiB hash list`,
    `  seeded target identical to the volume: ${seeded.identical ? 'yes' : 'NO'} (sha256 ${seeded.targetSha256.slice(0, 16)}…)`,
  ].join('\n');
}
