import { definitionPath } from '../../core/methods/method.js';
import { readDefinition } from '../../core/orchestration/asl-walk.js';
import type { LocalRunEvent } from '../../core/orchestration/local-runner.js';
import { type LocalFailback, startLocalFailback } from '../../core/wiring/local.js';
import { decideApproval } from './decide-approval.js';
import type { DrillOptions } from './drill-options.js';
import { drillReport } from './drill-outcome.js';
import type { DrillReport } from './drill-report.js';
import { failAtHandlers, unreachedFailAt } from './fail-at.js';
import { DrillInterruption } from './interruption.js';
import { CountingBlockSource, DrillProgress } from './progress.js';
import { ChangedSinceKept, keptState, retryReport } from './reject-then-retry.js';
import { DrillOriginals, seedingOf } from './reuse-original.js';
import { createDrillFleet, type DrillFleet, fleetRequest, hostWritesPerSecond } from './takeover.js';
import { DrillWorkDir } from './work-dir.js';

export type { DrillOptions } from './drill-options.js';

/** A drill's failback hosts are healthy once running (nothing else listens on them): a failed check is rehearsed. */
const DEFAULT_DRILL_HEALTH_TIMEOUT_SECONDS = 30;

/**
 * Runs a failback (the method of `options`) on the local cloud: a takeover host with live writes, the real state machine file,
 * a real sync gateway process, and checks the outcome byte for byte. Returns the report; never throws for a run
 * that rolls back or fails — that is the report's status. Ctrl-C (or SIGTERM) stops every process it started,
 * removes its temp dir and exits 130 (see DrillInterruption).
 */
export async function runDrill(options: DrillOptions, say: (line: string) => void): Promise<DrillReport> {
  for (const missed of unreachedFailAt(
    readDefinition(definitionPath(options.method)),
    options.failAt,
    options.approval,
  )) {
    say(`warning: --fail-at ${missed.state} will not be reached by this rehearsal: ${missed.why}`);
  }
  const interruption = new DrillInterruption(say);
  try {
    const workDir = await interruption.guard(DrillWorkDir.open(options, say));
    interruption.onInterrupt(() => workDir.close('interrupted'));
    const report = await interruption.guard(drillIn(workDir, options, say, interruption));
    await interruption.guard(workDir.close('finished'));
    return report;
  } finally {
    interruption.dispose();
  }
}

async function drillIn(
  workDir: DrillWorkDir,
  options: DrillOptions,
  say: (line: string) => void,
  interruption: DrillInterruption,
): Promise<DrillReport> {
  let counting: CountingBlockSource | undefined;
  const env = await interruption.guard(
    startLocalFailback({
      method: options.method,
      dir: workDir.dir,
      waitMs: 250,
      wrapBlockSource: (source) => {
        counting = new CountingBlockSource(source);
        return counting;
      },
      ...(options.failAt.length > 0 ? { stateHandlers: failAtHandlers(options.failAt) } : {}),
      ...(options.ebsFaults ? { ebsFaults: options.ebsFaults } : {}),
      // The deployment is told the quota its EBS runs under, as one on AWS is (HOMEBOUND_SNAPSHOT_BLOCK_QUOTA): its
      // governors then keep under it instead of finding it by being throttled, and `homebound estimate` can predict it.
      ...(options.ebsFaults?.quotaPerSnapshot
        ? { streamSplit: { snapshotBlockQuota: options.ebsFaults.quotaPerSnapshot } }
        : {}),
      ...(options.healthCheckFaults ? { healthCheckFaults: options.healthCheckFaults } : {}),
    }),
  );
  interruption.onInterrupt(() => env.stop());
  try {
    say(`local cloud up (EBS ${env.cloud.ebsEndpoint}, S3 ${env.cloud.s3Endpoint}); work dir ${workDir.dir}`);
    const fleet = await interruption.guard(createDrillFleet(env, options));
    const { hosts } = fleet;
    hosts.forEach((host, i) => {
      const planned = fleet.plan.hosts[i];
      say(
        `takeover host ${host.hostId} (${host.tags.Name}, wave ${planned?.wave}, ${host.privateIp} → ${planned?.homeIp} as ${planned?.failbackType}): ${options.volumes} × ${options.sizeMiB} MiB, ${hostWritesPerSecond(options)} writes/s`,
      );
    });

    if (!options.rejectThenRetry) {
      const originals = options.reuseOriginal
        ? await interruption.guard(DrillOriginals.create(env, hosts, { ...options.reuseOriginal, seed: options.seed }))
        : undefined;
      if (originals) say(originals.describe());
      const run = await executeRun(env, fleet, options, {
        workDir,
        say,
        interruption,
        counting,
        ...(originals ? { originals, onEvent: (event, runId) => originals.onEvent(event, runId) } : {}),
      });
      const report = await interruption.guard(drillReport(env, { ...run, hosts, options }));
      return originals
        ? { ...report, seeding: await interruption.guard(seedingOf(env, originals, run.runId)) }
        : report;
    }
    // The rejected run, then a second execution on the same takeover host that starts from what the first kept.
    say('first execution: rejected at approval (--reject-then-retry)');
    const rejected = await executeRun(
      env,
      fleet,
      { ...options, approval: 'reject' },
      { workDir, say, interruption, counting },
    );
    const first = await interruption.guard(
      drillReport(env, { ...rejected, hosts, options: { ...options, approval: 'reject' } }),
    );
    const kept = await interruption.guard(keptState(env, rejected.runId, hosts));
    say(`second execution: approved, on the same takeover host (${kept.snapshots.length} kept snapshot(s))`);
    const measure = new ChangedSinceKept(env, kept.snapshots);
    const retried = await executeRun(
      env,
      fleet,
      { ...options, approval: 'auto-approve' },
      {
        workDir,
        say,
        interruption,
        counting,
        onEvent: (event, runId) => measure.onEvent(event, runId),
      },
    );
    const second = await interruption.guard(
      drillReport(env, { ...retried, hosts, options: { ...options, approval: 'auto-approve' } }),
    );
    return await interruption.guard(
      retryReport(env, { first, kept, second, bytesChangedSinceKept: await measure.bytes() }),
    );
  } finally {
    await env.stop();
  }
}

interface RunContext {
  readonly workDir: DrillWorkDir;
  readonly say: (line: string) => void;
  readonly interruption: DrillInterruption;
  readonly counting: CountingBlockSource | undefined;
  readonly onEvent?: (event: LocalRunEvent, runId: string) => void;
  /** `--reuse-original`: the seeds the request gives. */
  readonly originals?: DrillOriginals;
}

/** One execution of the method on the takeover hosts, its approval answered as `options.approval` says. */
async function executeRun(
  env: LocalFailback,
  fleet: DrillFleet,
  options: DrillOptions,
  context: RunContext,
): Promise<{ runId: string; error: unknown; started: Date; history: readonly LocalRunEvent[] }> {
  const { workDir, say, interruption } = context;
  const started = new Date();
  const runId = `drill-${started.toISOString().replace(/[:.]/g, '-')}`;
  const progress = new DrillProgress(context.counting as CountingBlockSource, say, options.interactive);
  const decided = await interruption.guard(decideApproval(env, options, say));
  const execution = env.machine.run(
    {
      method: options.method.name,
      ...seededRequest(fleetRequest(fleet), context.originals),
      target: {
        platform: 'aws',
        region: env.cloud.region,
        // The originals run, as an original system that came back up on its own would: PrepareTarget stops them.
        ...(context.originals ? { powerOffSeed: true } : {}),
      },
      convergence: { thresholdMiB: options.thresholdMiB, maxPasses: options.maxPasses },
      approval: { timeoutSeconds: options.approvalTimeoutSeconds },
      cutover: { healthTimeoutSeconds: options.healthTimeoutSeconds ?? DEFAULT_DRILL_HEALTH_TIMEOUT_SECONDS },
    },
    {
      executionName: runId,
      onEvent: (event) => {
        progress.onEvent(event);
        context.onEvent?.(event, runId);
        if (event.type === 'StateEntered' && event.mapIndex === undefined) workDir.entered(runId, event.stateName);
      },
    },
  );
  interruption.onInterrupt(() => {
    progress.stop();
    execution.abort();
    return decided.cancel();
  });
  let error: unknown;
  try {
    await interruption.guard(execution.result);
  } catch (caught) {
    error = caught;
  } finally {
    progress.stop();
    await decided.cancel();
  }
  const restarts = [...env.gatewayRestarts].map(([hostId, count]) => `${hostId} restarted ${count}×`);
  say(`sync gateway restarts: ${restarts.join(', ') || 'none'}`);
  return { runId, error, started, history: execution.history };
}

/** The fleet's request with each host's originals as its seeds. */
function seededRequest(request: ReturnType<typeof fleetRequest>, originals: DrillOriginals | undefined) {
  if (!originals) return request;
  return {
    ...request,
    hosts: request.hosts.map((host) => ({ ...host, failback: { ...host.failback, seed: originals.seedOf(host.id) } })),
  };
}
