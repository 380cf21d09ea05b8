import { writeFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type HealthCheckFault, parseHealthCheckFault } from '../../core/health/rehearsal.js';
import { automatedMethod } from '../../core/methods/automated.js';
import { conditionalAutomatedMethod } from '../../core/methods/conditional-automated.js';
import { definitionPath, type FailbackMethod } from '../../core/methods/method.js';
import { findMethod, knownMethodNames } from '../../core/methods/registry.js';
import { readDefinition, walkStates } from '../../core/orchestration/asl-walk.js';
import { DEFAULT_DIVERGENCE_PCT, type DrillOptions } from '../drill/drill-options.js';
import { endedAsRehearsed } from '../drill/drill-outcome.js';
import { drillSummary } from '../drill/drill-summary.js';
import { renderDrillHtml } from '../drill/html-report.js';
import { runDrill } from '../drill/run-drill.js';
import { onPremDrillSummary, runOnPremDrill } from '../drill/run-onprem-drill.js';
import { addEbsFaultOptions, ebsFaultsFrom, integerAtLeast, integerBetween, numberBetween } from '../options.js';
import { writableDir, writableFileParent } from '../paths.js';

interface DrillCommandOptions {
  method: FailbackMethod;
  hosts: number;
  waves: number;
  failHealthCheck: HealthCheckFault[];
  healthTimeout: number;
  volumes: number;
  sizeMib: number;
  writesPerSecond: number;
  thresholdMib?: number;
  maxPasses: number;
  approvalTimeout: number;
  autoApprove?: boolean;
  reject?: boolean;
  rejectThenRetry?: boolean;
  decideOnPage?: boolean;
  failAt: string[];
  seed: number;
  reuseOriginal?: boolean;
  divergencePct?: number;
  seedUnrelated?: boolean;
  workDir?: string;
  keepWorkDir?: boolean;
  json?: string;
  html?: string;
  platform?: 'vsphere' | 'manual';
  keep?: boolean;
}

/** The methods whose drill runs the local on-prem site (cli/drill/run-onprem-drill.ts) instead of a cloud target. */
const ONPREM_DRILL_METHODS: readonly string[] = [conditionalAutomatedMethod.name];

function drillOptions(options: DrillCommandOptions, approval: DrillOptions['approval']): DrillOptions {
  return {
    method: options.method,
    hosts: options.hosts,
    waves: options.waves,
    healthCheckFaults: options.failHealthCheck,
    healthTimeoutSeconds: options.healthTimeout,
    volumes: options.volumes,
    sizeMiB: options.sizeMib,
    writesPerSecond: options.writesPerSecond,
    // 8 MiB per volume: 16 for one host of two volumes; a fleet's final pass grows with it, as its passes do.
    thresholdMiB: options.thresholdMib ?? 8 * options.hosts * options.volumes,
    maxPasses: options.maxPasses,
    approvalTimeoutSeconds: options.approvalTimeout,
    approval,
    rejectThenRetry: options.rejectThenRetry,
    failAt: options.failAt,
    seed: options.seed,
    reuseOriginal: options.reuseOriginal
      ? {
          divergencePct: options.divergencePct ?? DEFAULT_DIVERGENCE_PCT,
          ...(options.seedUnrelated ? { unrelated: true } : {}),
        }
      : undefined,
    workDir: options.workDir,
    keepWorkDir: options.keepWorkDir,
    interactive: Boolean(process.stderr.isTTY),
    ebsFaults: ebsFaultsFrom(options, 'ebs-'),
  };
}

/** Exit code of a drill that did not end as rehearsed (not verified, failed, or rolled back unasked). */
export const DRILL_NOT_AS_EXPECTED = 4;

/** `--fail-health-check`: a host id or wave:K, or a usage error (exit 2) saying which. */
function healthCheckFault(value: string): HealthCheckFault {
  try {
    return parseHealthCheckFault(value);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
  }
}

/** `--method`: a registered method, or a usage error (exit 2) naming the known ones. */
function failbackMethod(value: string): FailbackMethod {
  const method = findMethod(value);
  if (method) return method;
  throw new InvalidArgumentError(`"${value}" is not a failback method; choose one of ${knownMethodNames.join(', ')}`);
}

/** The --fail-at states that are not Task states of the method's ASL, with the message that lists the ones that are. */
function unknownTaskStates(method: FailbackMethod, failAt: readonly string[]): string | undefined {
  const tasks = [...walkStates(readDefinition(definitionPath(method)))].filter((s) => s.type === 'Task');
  const unknown = failAt.filter((value) => !tasks.some((task) => task.name === value));
  if (unknown.length === 0) return undefined;
  return `--fail-at ${unknown.map((value) => `"${value}"`).join(', ')} is not a Task state of the ${method.name} method; choose one of ${tasks.map((t) => t.name).join(', ')}`;
}

function noTerminalMessage(failAt: readonly string[]): string {
  const rehearsal = ['homebound drill', ...failAt.map((state) => `--fail-at ${state}`)].join(' ');
  return [
    'homebound drill: no terminal to ask for the cutover decision (stdin is not a TTY); it would wait out',
    '--approval-timeout and then roll back for the timeout. Decide up front:',
    `  ${rehearsal} --auto-approve    (or --reject to rehearse a rejected cutover)`,
    'or add --decide-on-page to decide on the localhost approval page it prints.',
  ].join('\n');
}

/** Why the `--reuse-original` options do not go together, or undefined when they do. */
export function reuseOriginalProblem(options: {
  readonly reuseOriginal?: boolean | undefined;
  readonly divergencePct?: number | undefined;
  readonly seedUnrelated?: boolean | undefined;
  readonly rejectThenRetry?: boolean | undefined;
}): string | undefined {
  if (!options.reuseOriginal) {
    if (options.divergencePct !== undefined)
      return '--divergence-pct needs --reuse-original (it says how far the original disks diverged)';
    if (options.seedUnrelated) return '--seed-unrelated needs --reuse-original (it makes the original disks random)';
    return undefined;
  }
  if (options.seedUnrelated && options.divergencePct !== undefined) {
    return '--seed-unrelated makes every block differ; --divergence-pct has nothing to say then';
  }
  if (options.rejectThenRetry) {
    return '--reuse-original with --reject-then-retry is not rehearsed yet: the retried run would start from the kept target, not the original';
  }
  return undefined;
}

/** `homebound drill`: a whole failback of one method on the local cloud, checked byte for byte. */
export function registerDrill(program: Command): void {
  const drill = program
    .command('drill')
    .description('Run a whole automated failback on the local cloud (live writes, approval, cutover) and verify it')
    .option(
      '--method <name>',
      `the failback method to rehearse (${knownMethodNames.join(', ')})`,
      failbackMethod,
      automatedMethod as FailbackMethod,
    )
    .option('--hosts <n>', 'takeover hosts of the fleet (at most 100, as in a request)', integerBetween(1, 100), 1)
    .option(
      '--waves <k>',
      'split the hosts into this many cutover waves (at most --hosts): takeover hosts stop last wave first, failback hosts start wave by wave, each wave healthy before the next',
      integerBetween(1, 100),
      1,
    )
    .option(
      '--fail-health-check <host|wave:K>',
      "rehearse a failed wave: this host's health check fails (a takeover or failback host id), or one host's of wave K; the run rolls back. Repeatable",
      (value: string, previous: HealthCheckFault[]) => [...previous, healthCheckFault(value)],
      [] as HealthCheckFault[],
    )
    .option(
      '--health-timeout <seconds>',
      "how long a wave's failback hosts may take to pass their health checks (the request's cutover.healthTimeoutSeconds)",
      integerBetween(1, 86_400),
      30,
    )
    .option('--volumes <n>', 'volumes on each takeover host', integerAtLeast(1), 2)
    .option('--size-mib <n>', 'size of each volume in MiB', integerAtLeast(1), 256)
    .option(
      '--writes-per-second <n>',
      "block writes per second by the takeover workload, shared by the fleet's hosts (at least 1 each)",
      integerAtLeast(1),
      20,
    )
    .option(
      '--threshold-mib <n>',
      'converged once an incremental pass changes at most this many MiB (default: 8 per volume, 16 for one host of two volumes)',
      numberBetween(0, 1e9),
    )
    .option('--max-passes <n>', 'stop iterating after this many passes', integerAtLeast(2), 8)
    .option('--approval-timeout <seconds>', 'roll back when nobody decides within this long', integerAtLeast(1), 600)
    .addOption(new Option('--auto-approve', 'approve the cutover as soon as it is asked for').conflicts('reject'))
    .addOption(new Option('--reject', 'reject the cutover (rehearses the rollback)').conflicts('autoApprove'))
    .addOption(
      new Option(
        '--reject-then-retry',
        'reject the first execution (it rolls back, keeping its target volumes), then run a second one on the same takeover host and approve it: it starts with an incremental pass',
      ).conflicts(['autoApprove', 'reject', 'decideOnPage']),
    )
    .option('--decide-on-page', 'without a terminal: wait for the decision on the localhost approval page only')
    .option(
      '--fail-at <state>',
      'fail this Task state whenever the run reaches it; repeat it to fail several (--fail-at Cutover --fail-at Rollback rehearses a failing rollback)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option(
      '--reuse-original',
      "seed each takeover volume's target with an original disk that survived at home: a copy made at the failover, --divergence-pct of its blocks written since; the first pass sends only blocks that differ",
    )
    .option(
      '--divergence-pct <p>',
      `with --reuse-original: the share of each original's blocks written at home after the failover (default ${DEFAULT_DIVERGENCE_PCT})`,
      numberBetween(0, 100),
    )
    .option(
      '--seed-unrelated',
      'with --reuse-original: originals of random data instead of copies (a seed that saves nothing; the run still ends identical, with a warning)',
    )
    .option('--seed <n>', 'seed of the volumes and the workload', integerAtLeast(0), 1)
    .option('--work-dir <dir>', 'keep the local cloud, volumes and gateway state here (default: a temp dir, removed)')
    .option('--keep-work-dir', 'keep the temp work dir at the end and after Ctrl-C (it is removed otherwise)')
    .addOption(
      new Option(
        '--platform <name>',
        'conditional-automated: the on-prem platform rehearsed (default vsphere)',
      ).choices(['vsphere', 'manual']),
    )
    .option(
      '--keep',
      'conditional-automated: leave the local cloud and on-prem site running after the report until Ctrl-C',
    )
    .option('--json <file>', 'write the drill report as JSON')
    .option('--html <file>', 'write the drill report as an HTML page (convergence chart included)')
    .action(async (options: DrillCommandOptions, command: Command) => {
      // Checked here, not in the option's parser: the states are the chosen method's, and --method may come later.
      const unknownStates = unknownTaskStates(options.method, options.failAt);
      if (unknownStates) command.error(`homebound: ${unknownStates}`, { exitCode: 2 });
      if (options.waves > options.hosts) {
        command.error(
          `homebound: --waves ${options.waves} is more than --hosts ${options.hosts}: every wave needs a host`,
          { exitCode: 2 },
        );
      }
      const missingWave = options.failHealthCheck.find((fault) => 'wave' in fault && fault.wave > options.waves);
      if (missingWave && 'wave' in missingWave) {
        command.error(
          `homebound: --fail-health-check wave:${missingWave.wave}: the drill has ${options.waves} wave(s) (--waves)`,
          { exitCode: 2 },
        );
      }
      const reuseProblem = reuseOriginalProblem(options);
      if (reuseProblem) command.error(`homebound: ${reuseProblem}`, { exitCode: 2 });
      // Before the run, not after it: a report path that cannot be written would otherwise fail minutes later.
      if (options.workDir !== undefined) await writableDir('--work-dir', options.workDir);
      if (options.json !== undefined) await writableFileParent('--json', options.json);
      if (options.html !== undefined) await writableFileParent('--html', options.html);
      const approval = options.autoApprove
        ? 'auto-approve'
        : options.reject || options.rejectThenRetry
          ? 'reject'
          : options.decideOnPage
            ? 'page'
            : 'ask';
      // Asking on a stdin that is not a terminal would wait out the whole approval timeout and then roll back for
      // the timeout, not for what was rehearsed: refuse before anything starts.
      if (approval === 'ask' && !process.stdin.isTTY) command.error(noTerminalMessage(options.failAt), { exitCode: 2 });
      if (ONPREM_DRILL_METHODS.includes(options.method.name)) {
        if (options.failHealthCheck.length > 0) {
          command.error(
            `homebound: --fail-health-check is not available for the ${options.method.name} drill yet: the agent runs its waves' checks on-prem (a wave's failure is rehearsed in the tests with a check on a closed port)`,
            { exitCode: 2 },
          );
        }
        if (options.html !== undefined) {
          command.error(`homebound: --html is not available for the ${options.method.name} drill yet; use --json`, {
            exitCode: 2,
          });
        }
        const onPrem = await runOnPremDrill(
          { ...drillOptions(options, approval), platform: options.platform ?? 'vsphere', keep: options.keep },
          (line) => console.error(line),
          (line) => console.log(line),
          async (report) => {
            for (const line of onPremDrillSummary(report)) console.log(line);
            if (options.json) await writeFile(options.json, `${JSON.stringify(report, null, 2)}\n`);
          },
        );
        // A rollback is what --reject and --fail-at rehearse; without them only a verified cutover is as expected.
        // --reject-then-retry: the retried run must succeed and the retry check hold.
        const rollbackAsked = (approval === 'reject' && !options.rejectThenRetry) || options.failAt.length > 0;
        const expected =
          onPrem.status === (rollbackAsked ? 'rolled-back' : 'succeeded') &&
          (!options.rejectThenRetry || onPrem.retry?.ok === true);
        if (!onPrem.verified || !expected) process.exitCode = DRILL_NOT_AS_EXPECTED;
        return;
      }
      if (options.platform !== undefined || options.keep) {
        command.error(
          `homebound: --platform and --keep are options of the on-prem drill (--method conditional-automated)`,
          {
            exitCode: 2,
          },
        );
      }
      const report = await runDrill(drillOptions(options, approval), (line) => console.error(line));
      for (const line of drillSummary(report)) console.log(line);
      if (options.json) await writeFile(options.json, `${JSON.stringify(report, null, 2)}\n`);
      if (options.html) await writeFile(options.html, renderDrillHtml(report));
      if (!endedAsRehearsed(report)) process.exitCode = DRILL_NOT_AS_EXPECTED;
    });
  // Fault rehearsals on the local cloud (--ebs-throttle-rate, --ebs-error-rate, --ebs-latency-ms, --ebs-quota,
  // --corrupt-blocks, --short-pages), without a patch.
  addEbsFaultOptions(drill, 'ebs-');
}
