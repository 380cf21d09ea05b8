import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { formatBytes, formatSeconds } from '../../core/approvals/estimate.js';
import { InvalidInputError } from '../../core/errors.js';
import { type MeasuredVolume, planFromMeasurement } from '../../core/estimate/measure-hosts.js';
import { estimateFailback, type FailbackEstimate } from '../../core/estimate/model.js';
import { type EstimatePlan, type EstimatePlanInput, parseEstimatePlan } from '../../core/estimate/plan.js';
import { PROFILES, type ThroughputProfile, throughputProfile } from '../../core/estimate/profile.js';
import { integerAtLeast, integerBetween, numberBetween } from '../options.js';
import { measureTakeoverHostsOnAws } from './estimate-from-hosts.js';

interface EstimateOptions {
  plan?: string;
  fromHosts?: string[];
  hosts: number;
  volumes: number;
  sizeGib?: number;
  sizeMib?: number;
  used: number;
  writeMibps?: number;
  writesPerSecond?: number;
  writeKib: number;
  hotFraction: number;
  thresholdMib: number;
  maxPasses: number;
  approvalSeconds: number;
  profile: string;
  quota?: number;
  accountQuota?: number;
  latencyMs?: number;
  cpuMsPerBlock?: number;
  invocationsPerVolume?: number;
  lambdaConcurrency?: number;
  gatewayMibps?: number;
  targetVolumeMibps?: number;
  json?: boolean;
}

/** Options that describe the plan: given with --plan they would be ignored, so they are refused. */
const PLAN_FLAGS = ['sizeGib', 'sizeMib', 'writeMibps', 'writesPerSecond'] as const;

async function readPlan(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8').catch((error: unknown) => {
    throw new InvalidInputError(`cannot read --plan ${path}: ${(error as Error).message}`);
  });
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`--plan ${path} is not JSON: ${(error as Error).message}`);
  }
}

/** The plan the flags describe: `--hosts` alike hosts of `--volumes` alike volumes. */
function planFromFlags(options: EstimateOptions): EstimatePlanInput {
  const size = options.sizeMib !== undefined ? { sizeMiB: options.sizeMib } : { sizeGiB: options.sizeGib ?? 0 };
  const rate =
    options.writesPerSecond !== undefined
      ? { writesPerSecond: options.writesPerSecond }
      : { mibPerSecond: options.writeMibps ?? 0 };
  return {
    hosts: Array.from({ length: options.hosts }, () => ({
      volumes: Array.from({ length: options.volumes }, () => ({ ...size })),
    })),
    usedFraction: options.used,
    writes: { ...rate, writeKiB: options.writeKib, hotFraction: options.hotFraction },
    convergence: { thresholdMiB: options.thresholdMib, maxPasses: options.maxPasses },
    approvalSeconds: options.approvalSeconds,
  };
}

function profileFrom(options: EstimateOptions): ThroughputProfile {
  return throughputProfile(options.profile, {
    snapshotBlockQuota: options.quota,
    accountBlockQuota: options.accountQuota,
    callLatencyMs: options.latencyMs,
    cpuMsPerBlock: options.cpuMsPerBlock,
    invocationsPerVolume: options.invocationsPerVolume,
    lambdaConcurrency: options.lambdaConcurrency,
    gatewayMiBps: options.gatewayMibps,
    targetVolumeMiBps: options.targetVolumeMibps,
  });
}

/** The estimate as a terminal reads it: one line per pass, then the totals. */
export function estimateSummary(estimate: FailbackEstimate): string[] {
  const lines = [
    `homebound estimate (${estimate.profile} profile) — ${estimate.hosts} host(s), ${estimate.volumes} volume(s), threshold ${estimate.thresholdMiB} MiB, at most ${estimate.maxPasses} passes`,
  ];
  for (const pass of estimate.passes) {
    const name = pass.role === 'sync' ? pass.kind : pass.role;
    lines.push(
      `  pass ${pass.number} ${name}: ${formatBytes(pass.bytesChanged)} in ${formatSeconds(pass.seconds)} (${Math.round(pass.blocksPerSecond)} blocks/s, limited by ${pass.limitedBy})${pass.converged && pass.role === 'sync' ? ' — converged' : ''}`,
    );
  }
  lines.push(
    `passes to convergence: ${estimate.passesToConvergence}${estimate.convergedByThreshold ? '' : ' (the pass limit, not the threshold)'}`,
    `sync time (every pass): ${formatSeconds(estimate.syncSeconds)}`,
    `final pass: ${formatBytes(estimate.finalPass.bytesChanged)} in ${formatSeconds(estimate.finalPass.seconds)}`,
    `downtime (takeover stopped → failback hosts verified): ${formatSeconds(estimate.downtimeSeconds)}`,
  );
  return lines;
}

/** `homebound estimate`: how long a failback takes and how long production is down, before running one. */
export function registerEstimate(program: Command): void {
  program
    .command('estimate')
    .description('Predict the passes, sync time, final pass and downtime of a failback (docs/estimate.md)')
    .option(
      '--plan <file>',
      'the plan, JSON: hosts, volume sizes, used fraction, writes, convergence (docs/estimate.md)',
    )
    .option('--hosts <n>', 'without --plan: takeover hosts', integerBetween(1, 10_000), 1)
    .option('--volumes <n>', 'without --plan: volumes per host', integerAtLeast(1), 1)
    .addOption(
      new Option('--size-gib <n>', 'without --plan: size of each volume in GiB')
        .argParser(numberBetween(0.001, 65_536))
        .conflicts('sizeMib'),
    )
    .option('--size-mib <n>', 'without --plan: size of each volume in MiB', numberBetween(1, 67_108_864))
    .option('--used <share>', 'without --plan: share of each volume ever written', numberBetween(0, 1), 1)
    .addOption(
      new Option('--write-mibps <n>', 'without --plan: MiB written per second by each host')
        .argParser(numberBetween(0, 1e6))
        .conflicts('writesPerSecond'),
    )
    .option('--writes-per-second <n>', 'without --plan: writes per second by each host', numberBetween(0, 1e9))
    .option(
      '--write-kib <n>',
      'size of one write in KiB (each dirties the 512 KiB blocks it touches)',
      numberBetween(1, 1_048_576),
      512,
    )
    .option('--hot-fraction <share>', 'share of each volume the writes land on', numberBetween(0.000001, 1), 1)
    .option('--threshold-mib <n>', 'converged once an incremental pass carries at most this', numberBetween(0, 1e9), 64)
    .option('--max-passes <n>', 'converged at this many passes at the latest', integerBetween(2, 100), 10)
    .option('--approval-seconds <n>', 'converged → approved', numberBetween(0, 31_536_000), 0)
    .addOption(new Option('--profile <name>', 'where the failback runs').choices(Object.keys(PROFILES)).default('aws'))
    .option('--quota <n>', "GetSnapshotBlock requests/s per snapshot (the profile's: AWS 1,000)", integerAtLeast(1))
    .option('--account-quota <n>', 'GetSnapshotBlock requests/s per account', integerAtLeast(1))
    .option('--latency-ms <n>', 'time per EBS direct API call', numberBetween(0, 60_000))
    .option('--cpu-ms-per-block <n>', "the engine's CPU per block on one invocation", numberBetween(0.001, 10_000))
    .option('--invocations-per-volume <n>', 'StreamPass invocations per volume at most', integerBetween(1, 10))
    .option('--lambda-concurrency <n>', 'Lambda invocations at once', integerAtLeast(1))
    .option('--gateway-mibps <n>', 'MiB/s one sync gateway writes', numberBetween(0.001, 1e6))
    .option('--target-volume-mibps <n>', 'MiB/s one target volume takes (gp3 baseline: 125)', numberBetween(0.001, 1e6))
    .addOption(
      new Option(
        '--from-hosts <ids>',
        "on AWS: measure the plan from these takeover hosts (comma-separated): blocks in use and the change rate between their volumes' two latest snapshots",
      )
        .argParser((value: string) => value.split(',').filter((id) => id !== ''))
        .conflicts('plan'),
    )
    .option('--json', 'print the estimate as JSON')
    .action(async (options: EstimateOptions, command: Command) => {
      if (options.plan !== undefined || options.fromHosts !== undefined) {
        const given = PLAN_FLAGS.find((flag) => options[flag] !== undefined);
        if (given) {
          command.error(
            `homebound: --${given.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} describes the plan; with ${options.plan !== undefined ? '--plan put it in the file' : '--from-hosts it is measured'}`,
            {
              exitCode: 2,
            },
          );
        }
      } else if (options.sizeGib === undefined && options.sizeMib === undefined) {
        command.error(
          'homebound: give --plan FILE, --from-hosts IDS (on AWS), or the plan as flags: --size-gib (or --size-mib) and --write-mibps (or --writes-per-second)',
          { exitCode: 2 },
        );
      }
      let measured: MeasuredVolume[] | undefined;
      let plan: EstimatePlan;
      if (options.fromHosts !== undefined) {
        measured = await measureTakeoverHostsOnAws(options.fromHosts);
        plan = planFromMeasurement(measured, { thresholdMiB: options.thresholdMib, maxPasses: options.maxPasses });
      } else {
        plan = parseEstimatePlan(options.plan !== undefined ? await readPlan(options.plan) : planFromFlags(options));
      }
      const estimate = estimateFailback(plan, profileFrom(options));
      if (options.json) {
        console.log(JSON.stringify(measured ? { ...estimate, measured } : estimate, null, 2));
        return;
      }
      for (const volume of measured ?? []) {
        console.log(
          `measured ${volume.hostId} ${volume.volumeId}: ${volume.usedBlocks} blocks in use, ${volume.changedBlocks} changed in ${formatSeconds(volume.intervalSeconds)} (${volume.earlierSnapshotId} → ${volume.latestSnapshotId})`,
        );
      }
      for (const line of estimateSummary(estimate)) console.log(line);
    });
}
