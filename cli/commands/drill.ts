import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { AUTOMATED_FAILBACK_DEFINITION } from '../../core/failback/local-environment.js';
import { readDefinition, walkStates } from '../../core/orchestration/asl-walk.js';
import { renderDrillHtml } from '../drill/html-report.js';
import { drillSummary, runDrill } from '../drill/run-drill.js';
import { addEbsFaultOptions, ebsFaultsFrom, integerAtLeast, numberBetween } from '../options.js';

interface DrillCommandOptions {
  volumes: number;
  sizeMib: number;
  writesPerSecond: number;
  thresholdMib: number;
  maxPasses: number;
  approvalTimeout: number;
  autoApprove?: boolean;
  reject?: boolean;
  failAt?: string;
  seed: number;
  workDir?: string;
  json?: string;
  html?: string;
}

/** Exit code of a drill that did not end as rehearsed (not verified, failed, or rolled back unasked). */
export const DRILL_NOT_AS_EXPECTED = 4;

function taskState(value: string): string {
  const tasks = [...walkStates(readDefinition(AUTOMATED_FAILBACK_DEFINITION))].filter((s) => s.type === 'Task');
  if (tasks.some((task) => task.name === value)) return value;
  throw new InvalidArgumentError(
    `"${value}" is not a Task state; choose one of ${tasks.map((t) => t.name).join(', ')}`,
  );
}

/** `homebound drill`: a whole automated failback on the local cloud, checked byte for byte. */
export function registerDrill(program: Command): void {
  const drill = program
    .command('drill')
    .description('Run a whole automated failback on the local cloud (live writes, approval, cutover) and verify it')
    .option('--volumes <n>', 'volumes on the takeover host', integerAtLeast(1), 2)
    .option('--size-mib <n>', 'size of each volume in MiB', integerAtLeast(1), 256)
    .option('--writes-per-second <n>', 'block writes per second by the takeover workload', integerAtLeast(1), 20)
    .option(
      '--threshold-mib <n>',
      'converged once an incremental pass changes at most this many MiB',
      numberBetween(0, 1e9),
      16,
    )
    .option('--max-passes <n>', 'stop iterating after this many passes', integerAtLeast(2), 8)
    .option('--approval-timeout <seconds>', 'roll back when nobody decides within this long', integerAtLeast(1), 600)
    .option('--auto-approve', 'approve the cutover as soon as it is asked for')
    .option('--reject', 'reject the cutover (rehearses the rollback)')
    .option('--fail-at <state>', 'fail this Task state of the state machine (rehearses the rollback)', taskState)
    .option('--seed <n>', 'seed of the volumes and the workload', integerAtLeast(0), 1)
    .option('--work-dir <dir>', 'keep the local cloud, volumes and gateway state here (default: a temp dir, removed)')
    .option('--json <file>', 'write the drill report as JSON')
    .option('--html <file>', 'write the drill report as an HTML page (convergence chart included)')
    .action(async (options: DrillCommandOptions) => {
      if (options.autoApprove && options.reject) {
        throw new InvalidArgumentError('--auto-approve and --reject contradict each other; choose one');
      }
      const report = await runDrill(
        {
          volumes: options.volumes,
          sizeMiB: options.sizeMib,
          writesPerSecond: options.writesPerSecond,
          thresholdMiB: options.thresholdMib,
          maxPasses: options.maxPasses,
          approvalTimeoutSeconds: options.approvalTimeout,
          approval: options.autoApprove ? 'auto-approve' : options.reject ? 'reject' : 'ask',
          failAt: options.failAt,
          seed: options.seed,
          workDir: options.workDir,
          interactive: Boolean(process.stderr.isTTY),
          ebsFaults: ebsFaultsFrom(options, 'ebs-'),
        },
        (line) => console.error(line),
      );
      for (const line of drillSummary(report)) console.log(line);
      if (options.json) await writeFile(options.json, `${JSON.stringify(report, null, 2)}\n`);
      if (options.html) await writeFile(options.html, renderDrillHtml(report));
      // A rollback is what was asked for when rehearsed (--reject, --fail-at) or when a person rejected the cutover.
      const rehearsedRollback = Boolean(options.reject || options.failAt || report.decision?.outcome === 'rejected');
      const asExpected =
        report.verified && (report.status === 'succeeded' || (report.status === 'rolled-back' && rehearsedRollback));
      if (!asExpected) process.exitCode = DRILL_NOT_AS_EXPECTED;
    });
  // Fault rehearsals on the local cloud (--ebs-throttle-rate, --ebs-error-rate, --ebs-latency-ms, --ebs-quota,
  // --corrupt-blocks, --short-pages), without a patch.
  addEbsFaultOptions(drill, 'ebs-');
}
