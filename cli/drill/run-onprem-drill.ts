import type { Host, InstanceTypeInfo } from '../../core/compute/port.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { runLayout } from '../../core/failback/run-state.js';
import type { PassRecord } from '../../core/failback/steps/record-pass.js';
import { type ReportWave, RunReport } from '../../core/failback/steps/report.js';
import { imageSha256 } from '../../core/image-digest.js';
import { failbackVmName } from '../../core/onprem/vsphere-platform.js';
import { ExecutionFailedError, type LocalRunEvent } from '../../core/orchestration/local-runner.js';
import { type LocalOnPremFailback, startLocalOnPremFailback } from '../../core/wiring/local-onprem.js';
import { decideApproval } from './decide-approval.js';
import type { DrillOptions, ReuseOriginal } from './drill-options.js';
import { failAtHandlers } from './fail-at.js';
import { DrillInterruption } from './interruption.js';
import { decideOnPremWaits } from './onprem-decisions.js';
import { keptSnapshots, type OnPremRetryCheck, retryCheck } from './onprem-retry.js';
import { type DrillVm, manualVms, vsphereVms } from './onprem-vms.js';
import {
  createOriginalVms,
  type OnPremSeeding,
  type OriginalVms,
  preFailbackHashes,
  seedingOf,
} from './original-vms.js';
import { CountingBlockSource, DrillProgress } from './progress.js';
import { ChangedSinceKept } from './reject-then-retry.js';
import { watchFirstPass } from './reuse-original.js';
import { createDrillFleet, type DrillFleet } from './takeover.js';
import { checkFleetWrites, type WritesCheck } from './verify.js';
import { DrillWorkDir } from './work-dir.js';

export interface OnPremDrillOptions extends DrillOptions {
  readonly platform: 'vsphere' | 'manual';
  /** Leave the local cloud and site running after the report until SIGINT or SIGTERM (`--keep`). */
  readonly keep?: boolean | undefined;
}

/** `homebound drill --method conditional-automated --json`: the on-prem drill's report. */
export interface OnPremDrillReport {
  readonly format: 'homebound.onprem-drill-report/v1';
  readonly method: string;
  readonly platform: 'vsphere' | 'manual';
  readonly runId: string;
  readonly status: 'succeeded' | 'rolled-back' | 'failed';
  readonly reason?: string;
  readonly verified: boolean;
  readonly verifiedWhat: string;
  readonly passes: readonly {
    number: number;
    kind: string;
    final: boolean;
    bytesChanged: number;
    bytesStaged: number;
    /** A seeded pass: blocks compared with the seed, and blocks carried because they differ. */
    blocksCompared?: number;
    blocksDiffering?: number;
  }[];
  /** From the run report: how the first pass started and why (a kept snapshot every disk holds, or not). */
  readonly firstPass?: { readonly kind: 'full' | 'incremental' | 'seeded'; readonly reason: string };
  /** `--reuse-original`: the seeds' expected divergence and their preserved pre-failback state. */
  readonly seeding?: OnPremSeeding;
  /** From the run report: what an operator should know of its passes (e.g. a seed that saved nothing). */
  readonly warnings?: readonly string[];
  readonly bytesChanged: number;
  readonly bytesStaged: number;
  readonly downtimeSeconds: number | null;
  readonly vms: readonly DrillVm[];
  /** Each takeover volume at the end and the disk that holds it on-prem. */
  readonly volumes: readonly { volumeId: string; sourceSha256: string; targetPath?: string; identical: boolean }[];
  readonly writes: WritesCheck;
  /** The takeover hosts as they are now, in request order, each with its wave. */
  readonly hosts: readonly { hostId: string; name: string; instanceType?: string; state: string; wave: number }[];
  /** From the run report: each wave's stop, start and health times and its hosts' checks. */
  readonly waves?: readonly ReportWave[];
  readonly options: Readonly<Record<string, unknown>>;
  readonly startedAt: string;
  readonly seconds: number;
  /** `--reject-then-retry`: the rejected run, what it kept, and the retried run's first pass against it. */
  readonly retry?: OnPremRetryCheck;
}

/**
 * The conditional-automated drill: the local cloud, a takeover host with live writes, the local on-prem site (vcsim
 * or image files, its own S3 store, `homebound agent` as its own process), the method's ASL; then checks each VM disk
 * against its takeover volume byte for byte. `print` gets the site's `KEY=value` lines at start.
 */
export async function runOnPremDrill(
  options: OnPremDrillOptions,
  say: (line: string) => void,
  print: (line: string) => void,
  onReport: (report: OnPremDrillReport) => Promise<void>,
): Promise<OnPremDrillReport> {
  const interruption = new DrillInterruption(say);
  try {
    const workDir = await interruption.guard(DrillWorkDir.open(options, say));
    interruption.onInterrupt(() => workDir.close('interrupted'));
    let counting: CountingBlockSource | undefined;
    const env = await interruption.guard(
      startLocalOnPremFailback({
        method: options.method,
        platform: options.platform,
        dir: workDir.dir,
        waitMs: 250,
        wrapBlockSource: (source) => {
          counting = new CountingBlockSource(source);
          return counting;
        },
        ...(options.failAt.length > 0 ? { stateHandlers: failAtHandlers(options.failAt) } : {}),
      }),
    );
    interruption.onInterrupt(() => env.stop());
    try {
      const report = await interruption.guard(drillIn(env, options, say, print, counting, workDir));
      await onReport(report);
      if (options.keep) {
        // From here a signal is the expected end, not an interruption: stop everything and exit as the report says.
        interruption.dispose();
        say('--keep: the local cloud and the on-prem site stay up; Ctrl-C (or SIGTERM) stops them');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        say('stopping the local cloud and the on-prem site');
      }
      return report;
    } finally {
      await env.stop();
      await workDir.close('finished');
    }
  } finally {
    interruption.dispose();
  }
}

async function drillIn(
  env: LocalOnPremFailback,
  options: OnPremDrillOptions,
  say: (line: string) => void,
  print: (line: string) => void,
  counting: CountingBlockSource | undefined,
  workDir: DrillWorkDir,
): Promise<OnPremDrillReport> {
  const started = new Date();
  const fleet = await createDrillFleet(env, options);
  fleet.hosts.forEach((host, i) => {
    say(
      `takeover host ${host.hostId} (${host.tags.Name}, wave ${fleet.plan.hosts[i]?.wave}, ${host.instanceType}): ${options.volumes} × ${options.sizeMiB} MiB`,
    );
  });
  const site = await env.startSite(fleet.hosts.flatMap((host) => host.volumes.map((volume) => volume.volumeId)));
  for (const [key, value] of Object.entries({ ...site.env(), ...env.cloud.env() })) print(`${key}=${value}`);
  say(`on-prem site up (${options.platform}, store ${site.store.s3Endpoint}); agent polling; work dir ${workDir.dir}`);

  const runId = `drill-${started.toISOString().replace(/[:.]/g, '-')}`;
  const originals = options.reuseOriginal
    ? await reuseOriginals(env, site, fleet, options.reuseOriginal, options.seed, say)
    : undefined;
  const preFailback = originals ? await preFailbackHashes(originals) : undefined;
  const progress = counting ? new DrillProgress(counting, say, options.interactive) : undefined;
  const execute = (id: string, approval: DrillOptions['approval'], onEvent?: (event: LocalRunEvent) => void) =>
    executeRun(env, {
      runId: id,
      fleet,
      options: { ...options, approval },
      say,
      progress,
      workDir,
      onEvent,
      originals,
    });
  if (!options.rejectThenRetry) {
    let firstPass: Promise<Map<string, number>> | undefined;
    const { output, reason } = await execute(runId, options.approval, (event) => {
      if (originals) firstPass ??= watchFirstPass(env, event, runId);
    });
    progress?.stop();
    const done = await report(env, { runId, fleet, options, started, output, reason, originals });
    if (!originals || !preFailback) return done;
    const seeding = await seedingOf(env, site, originals, runId, preFailback, await firstPass);
    return { ...done, seeding: { ...seeding, ...(done.warnings ? { warnings: done.warnings } : {}) } };
  }
  // --reject-then-retry: a rejected execution (it rolls back, keeping its disks and their proven snapshots), then a
  // second one on the same takeover host, approved, whose first pass must be incremental from what was kept.
  const first = await execute(`${runId}-1`, 'reject');
  const firstReport = await report(env, { runId: `${runId}-1`, fleet, options, started, ...first });
  const kept = await keptSnapshots(env, fleet.hosts);
  say(`rejected run rolled back; kept: ${kept.map((snapshot) => snapshot.snapshotId).join(', ') || 'nothing'}`);
  const changed = new ChangedSinceKept(env, kept);
  const second = await execute(`${runId}-2`, 'auto-approve', (event) => changed.onEvent(event, `${runId}-2`));
  progress?.stop();
  const secondReport = await report(env, { runId: `${runId}-2`, fleet, options, started, ...second });
  return { ...secondReport, retry: retryCheck(firstReport, kept, secondReport, await changed.bytes()) };
}

/** `--reuse-original`: the original VMs, sized as the takeover hosts (the drill's fleet shares one type). */
async function reuseOriginals(
  env: LocalOnPremFailback,
  site: Awaited<ReturnType<LocalOnPremFailback['startSite']>>,
  fleet: DrillFleet,
  reuse: ReuseOriginal,
  seed: number,
  say: (line: string) => void,
): Promise<OriginalVms> {
  const size = await env.compute.describeInstanceType(fleet.hosts[0]?.instanceType ?? 'm5.large');
  const originals = await createOriginalVms(env, site, fleet.hosts, {
    // An unrelated original (--seed-unrelated): every block written at home with random data.
    divergencePct: reuse.unrelated ? 100 : reuse.divergencePct,
    seed,
    vCpus: size.vCpus,
    memoryMiB: size.memoryMiB,
  });
  for (const vm of originals.vms) {
    say(
      `original VM ${vm.vm} (powered on, as if it came back by itself): its disks hold the takeover volumes at failover, ${originals.divergencePct} % of their blocks since written at home`,
    );
  }
  return originals;
}

/** One execution of the method's state machine on the drill's takeover hosts; its output or why it failed. */
async function executeRun(
  env: LocalOnPremFailback,
  run: {
    runId: string;
    fleet: DrillFleet;
    options: OnPremDrillOptions;
    say: (line: string) => void;
    progress: DrillProgress | undefined;
    workDir: DrillWorkDir;
    onEvent?: ((event: LocalRunEvent) => void) | undefined;
    /** `--reuse-original`: each host's seed VM. */
    originals?: OriginalVms | undefined;
  },
): Promise<{ output: unknown; reason?: string }> {
  const { runId, options, say } = run;
  const asks = options.approval === 'ask' || options.approval === 'page';
  const decided = asks ? await decideApproval(env, options, say) : undefined;
  const waits = decideOnPremWaits(env.approvals, options.approval, say);
  const execution = env.machine.run(
    {
      method: options.method.name,
      hosts: run.fleet.hosts.map((host, i) => {
        const seed = run.originals?.vms.find((vm) => vm.hostId === host.hostId);
        return {
          id: host.hostId,
          wave: run.fleet.plan.hosts[i]?.wave ?? 1,
          ...(seed ? { failback: { seed: { vm: seed.vm } } } : {}),
        };
      }),
      target: { platform: options.platform, ...(run.originals ? { powerOffSeed: true } : {}) },
      convergence: { thresholdMiB: options.thresholdMiB, maxPasses: options.maxPasses },
      approval: { timeoutSeconds: options.approvalTimeoutSeconds },
      agent: {
        heartbeatSeconds: 2,
        unavailableAfterSeconds: 30,
        prepareTimeoutSeconds: 300,
        operationTimeoutSeconds: 300,
      },
    },
    {
      executionName: runId,
      onEvent: (event) => {
        run.progress?.onEvent(event);
        run.onEvent?.(event);
        if (event.type === 'StateEntered' && event.mapIndex === undefined) run.workDir.entered(runId, event.stateName);
      },
    },
  );
  try {
    return { output: await execution.result };
  } catch (error) {
    return {
      output: undefined,
      reason: error instanceof ExecutionFailedError ? `${error.error}: ${error.cause ?? ''}` : String(error),
    };
  } finally {
    waits.cancel();
    await decided?.cancel();
  }
}

async function report(
  env: LocalOnPremFailback,
  run: {
    runId: string;
    fleet: DrillFleet;
    options: OnPremDrillOptions;
    started: Date;
    output: unknown;
    reason?: string | undefined;
    originals?: OriginalVms | undefined;
  },
): Promise<OnPremDrillReport> {
  const site = env.site();
  const record = env.deps.staging(runLayout.record(run.runId));
  const runReport = (await record.head(runLayout.reportKey))
    ? parseStagedJson(RunReport, await record.get(runLayout.reportKey), 'report.json')
    : undefined;
  const status = runReport?.status ?? 'failed';
  const { hosts } = run.fleet;
  const takeovers = await env.compute.describeHosts({ hostIds: hosts.map((host) => host.hostId) });
  const sizes = new Map<string, InstanceTypeInfo>();
  for (const host of takeovers) {
    const type = host.instanceType ?? 'm5.large';
    if (!sizes.has(type)) sizes.set(type, await env.compute.describeInstanceType(type));
  }
  const sizeOf = (host: Host) => sizes.get(host.instanceType ?? 'm5.large') as InstanceTypeInfo;
  const vms = !site
    ? []
    : site.vcsim
      ? await vsphereVms(
          site,
          hosts.flatMap((host) => {
            const original = run.originals?.vms.find((vm) => vm.hostId === host.hostId);
            return original ? [original.vm] : vmNamesOf(host, sizeOf(host));
          }),
        )
      : await manualVms(
          site,
          hosts.map((host) => ({
            name: host.tags.Name ?? host.hostId,
            volumeIds: host.volumes.map((v) => v.volumeId),
            ...sizeOf(host),
          })),
        );
  const disks = vms.flatMap((vm) => vm.disks);
  const volumes = [];
  for (const volume of hosts.flatMap((host) => host.volumes)) {
    const sourceSha256 = await imageSha256(env.volumePath(volume.volumeId));
    const disk = disks.find((candidate) => candidate.path.includes(volume.volumeId));
    volumes.push({
      volumeId: volume.volumeId,
      sourceSha256,
      ...(disk ? { targetPath: disk.path } : {}),
      identical: disk?.sha256 === sourceSha256,
    });
  }
  const writes = await checkFleetWrites(env, hosts);
  // Every VM has its takeover host's size (the fleet's hosts share one type, so its VMs one size).
  const size = sizeOf(hosts[0] as Host);
  const vmsUp = vms.every(
    (vm) =>
      (vm.powerState === 'poweredOn' || site?.vcsim === undefined) &&
      vm.numCPU === size.vCpus &&
      vm.memoryMiB === size.memoryMiB,
  );
  const succeeded = status === 'succeeded';
  const verified = succeeded
    ? vms.length === hosts.length && vmsUp && volumes.every((volume) => volume.identical) && writes.lost.length === 0
    : takeovers.every((host) => host.state === 'running') &&
      writes.lost.length === 0 &&
      vms.every((vm) => vm.powerState !== 'poweredOn');
  const passes = (runReport?.passes ?? []).map((pass) => ({
    number: pass.passNumber,
    kind: pass.kind,
    final: pass.final,
    bytesChanged: pass.bytesChanged,
    bytesStaged: pass.bytesStaged,
    ...seedCounts(pass),
  }));
  return {
    format: 'homebound.onprem-drill-report/v1',
    method: run.options.method.name,
    platform: run.options.platform,
    runId: run.runId,
    status,
    ...(run.reason ? { reason: run.reason } : runReport?.reason ? { reason: runReport.reason } : {}),
    verified,
    verifiedWhat: succeeded
      ? `each VM disk is byte-identical to its takeover volume at stop, every VM ${site?.vcsim ? 'powered on ' : ''}with ${size.vCpus} vCPUs and ${size.memoryMiB} MiB (${size.instanceType}), no write lost`
      : `the takeover ${hosts.length === 1 ? 'host runs' : 'hosts run'} with every write, no failback VM powered on, target disks kept`,
    passes,
    ...(runReport?.firstPass ? { firstPass: runReport.firstPass } : {}),
    ...(runReport?.warnings?.length ? { warnings: runReport.warnings } : {}),
    bytesChanged: runReport?.bytesChanged ?? 0,
    bytesStaged: runReport?.bytesStaged ?? 0,
    downtimeSeconds: runReport?.downtimeSeconds ?? null,
    vms,
    volumes,
    writes,
    hosts: hosts.map((host, i) => {
      const now = takeovers.find((candidate) => candidate.hostId === host.hostId);
      return {
        hostId: host.hostId,
        name: host.tags.Name ?? host.hostId,
        ...(now?.instanceType ? { instanceType: now.instanceType } : {}),
        state: now?.state ?? 'unknown',
        wave: run.fleet.plan.hosts[i]?.wave ?? 1,
      };
    }),
    ...(runReport?.waves ? { waves: runReport.waves } : {}),
    options: { ...run.options, method: run.options.method.name },
    startedAt: run.started.toISOString(),
    seconds: (Date.now() - run.started.getTime()) / 1000,
  };
}

/** A seeded pass's counts, summed over its seeded volumes. */
function seedCounts(pass: PassRecord): { blocksCompared?: number; blocksDiffering?: number } {
  const seeded = pass.volumes.filter((volume) => volume.blocksCompared !== undefined);
  if (seeded.length === 0) return {};
  return {
    blocksCompared: seeded.reduce((sum, volume) => sum + (volume.blocksCompared ?? 0), 0),
    blocksDiffering: seeded.reduce((sum, volume) => sum + (volume.blocksDiffering ?? 0), 0),
  };
}

/** The failback VM of the takeover host, named as the agent's vsphere platform names it. */
function vmNamesOf(host: Host, size: InstanceTypeInfo): string[] {
  return [failbackVmName({ hostId: host.hostId, name: host.tags.Name ?? host.hostId, ...size })];
}

function verdict(report: OnPremDrillReport, volume: OnPremDrillReport['volumes'][number]): string {
  if (volume.identical) return 'byte-identical to the takeover volume at stop';
  // After a rollback the takeover host serves on: the kept disk holds the last applied pass, an older state.
  if (report.status === 'rolled-back') return 'kept; differs from the takeover volume, which kept serving (expected)';
  return 'DIFFERENT from the takeover volume';
}

/** The end-of-drill lines: what happened and what was verified. */
export function onPremDrillSummary(report: OnPremDrillReport): string[] {
  return [
    `status: ${report.status}${report.reason ? ` — ${report.reason}` : ''}`,
    `verified: ${report.verified} — ${report.verifiedWhat}`,
    `passes: ${report.passes.length} — ${report.passes.map((pass) => (pass.final ? 'final' : pass.kind)).join(', ')}`,
    ...(report.firstPass ? [`first pass ${report.firstPass.kind}: ${report.firstPass.reason}`] : []),
    ...report.vms.map(
      (vm) => `vm ${vm.name}: ${vm.powerState}, ${vm.numCPU} vCPUs, ${vm.memoryMiB} MiB, ${vm.disks.length} disks`,
    ),
    ...report.volumes.map(
      (volume) => `volume ${volume.volumeId} → ${volume.targetPath ?? '(no disk)'}: ${verdict(report, volume)}`,
    ),
    `writes by the takeover workload: ${report.writes.writes}, lost: ${report.writes.lost.length}`,
    ...(report.retry ? retryLines(report.retry) : []),
    ...(report.seeding
      ? [
          `seeded: first pass staged ${report.passes[0]?.bytesStaged ?? 0} B for ${report.seeding.expectedDifferingBytes} B the drill made differ (${report.seeding.divergencePct} % written at home ∪ the cloud's writes since the failover)`,
          ...report.seeding.preserved.map(
            (entry) =>
              `seed ${entry.disk}: pre-failback state ${entry.intact ? 'kept' : 'NOT kept'} as ${entry.preservedAs}`,
          ),
          ...(report.status === 'succeeded'
            ? []
            : [
                'the seed disks hold what the run wrote so far; to return the original VM to its pre-failback state, copy each preserved disk back over its disk with the VM off (docs/vsphere.md, "Seeded failback")',
              ]),
        ]
      : []),
    `drill took ${report.seconds.toFixed(1)} s`,
  ];
}

function retryLines(retry: OnPremRetryCheck): string[] {
  return [
    `rejected run ${retry.first.runId}: ${retry.first.status}, takeover host ${retry.first.takeoverState}, writes lost ${retry.first.writesLost}, VMs powered on ${retry.first.vms.filter((vm) => vm.powerState === 'poweredOn').length}`,
    `kept after the rollback: ${retry.keptSnapshots.map((kept) => `${kept.volumeId} → ${kept.snapshotId}`).join(', ') || 'nothing'}`,
    `retried run's first pass: ${retry.firstPass.kind}, staged ${retry.firstPass.bytesStaged} B for ${retry.bytesChangedSinceKept} B changed since the kept snapshots (×${retry.stagedRatio.toFixed(3)}, at most ×${retry.maxStagedRatio}): ${retry.ok ? 'ok' : 'NOT as expected'}`,
  ];
}
