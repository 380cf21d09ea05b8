import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { DrillInjectedFailure } from '../../core/failback/errors.js';
import { type LocalFailback, startLocalFailback } from '../../core/failback/local-environment.js';
import { runLayout } from '../../core/failback/run-state.js';
import { RunReport } from '../../core/failback/steps/report.js';
import type { EbsFaults } from '../../core/localcloud/ebs-faults.js';
import { ExecutionFailedError } from '../../core/orchestration/local-runner.js';
import { serveApprovals } from './approval-page.js';
import { type DrillReport, phaseDurations } from './drill-report.js';
import { CountingBlockSource, DrillProgress, mib } from './progress.js';
import { createDrillTakeoverHost } from './takeover.js';
import { checkWorkloadWrites, compareVolumes } from './verify.js';

export interface DrillOptions {
  readonly volumes: number;
  readonly sizeMiB: number;
  readonly writesPerSecond: number;
  readonly thresholdMiB: number;
  readonly maxPasses: number;
  readonly approvalTimeoutSeconds: number;
  /** How the cutover is decided: at once, rejected at once, or by a person (terminal or localhost page). */
  readonly approval: 'auto-approve' | 'reject' | 'ask';
  readonly failAt?: string | undefined;
  readonly seed: number;
  /** Keep everything here instead of a temp dir that is removed afterwards. */
  readonly workDir?: string | undefined;
  /** Draw a progress bar (a terminal). */
  readonly interactive: boolean;
  /** Faults the local EBS server injects (drill --ebs-throttle-rate …). @default none */
  readonly ebsFaults?: EbsFaults;
}

const MiB = 1024 * 1024;

/**
 * Runs the automated failback on the local cloud: a takeover host with live writes, the real state machine file,
 * a real sync gateway process, and checks the outcome byte for byte. Returns the report; never throws for a run
 * that rolls back or fails — that is the report's status.
 */
export async function runDrill(options: DrillOptions, say: (line: string) => void): Promise<DrillReport> {
  const dir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'homebound-drill-')));
  const started = new Date();
  let counting: CountingBlockSource | undefined;
  const env = await startLocalFailback({
    dir,
    waitMs: 250,
    wrapBlockSource: (source) => {
      counting = new CountingBlockSource(source);
      return counting;
    },
    ...(options.failAt ? { stateHandlers: injectFailure(options.failAt) } : {}),
    ...(options.ebsFaults ? { ebsFaults: options.ebsFaults } : {}),
  });
  try {
    say(`local cloud up (EBS ${env.cloud.ebsEndpoint}, S3 ${env.cloud.s3Endpoint}); work dir ${dir}`);
    const host = await createDrillTakeoverHost(env, {
      name: 'drill-app',
      volumes: options.volumes,
      sizeBytes: options.sizeMiB * MiB,
      writesPerSecond: options.writesPerSecond,
      seed: options.seed,
    });
    say(
      `takeover host ${host.hostId}: ${options.volumes} × ${options.sizeMiB} MiB, ${options.writesPerSecond} writes/s`,
    );

    const runId = `drill-${started.toISOString().replace(/[:.]/g, '-')}`;
    const progress = new DrillProgress(counting as CountingBlockSource, say, options.interactive);
    const decided = await decideApproval(env, options, say);
    const execution = env.machine.run(
      {
        method: 'automated',
        hosts: [host.hostId],
        target: { platform: 'aws', region: env.cloud.region },
        convergence: { thresholdMiB: options.thresholdMiB, maxPasses: options.maxPasses },
        approval: { timeoutSeconds: options.approvalTimeoutSeconds },
      },
      { executionName: runId, onEvent: (event) => progress.onEvent(event) },
    );
    let status: DrillReport['status'] = 'succeeded';
    let reason: string | undefined;
    try {
      await execution.result;
    } catch (error) {
      if (!(error instanceof ExecutionFailedError)) throw error;
      status = error.error === 'FailbackRolledBack' ? 'rolled-back' : 'failed';
      reason = error.error === 'FailbackRolledBack' ? error.cause : `${error.error}: ${error.cause}`;
    } finally {
      progress.stop();
      await decided.cancel();
    }
    return await drillReport(env, { runId, host, status, reason, options, started, history: execution.history });
  } finally {
    await env.stop();
    if (!options.workDir) await rm(dir, { recursive: true, force: true });
  }
}

function injectFailure(stateName: string) {
  return () => ({
    [stateName]: () => {
      throw new DrillInjectedFailure(stateName);
    },
  });
}

/**
 * Answers the approval request as the options say. Asking a person serves the approval page on localhost (the same
 * handler as on AWS) and prints `Approval page: <url>` on its own line; the terminal can decide too. `cancel` closes
 * the prompt and the page.
 */
async function decideApproval(
  env: LocalFailback,
  options: DrillOptions,
  say: (line: string) => void,
): Promise<{ cancel(): Promise<void> }> {
  const served = options.approval === 'ask' ? await serveApprovals(env.approvals.page) : undefined;
  if (served) env.approvals.setPageUrl(served.url);
  let prompt: ReturnType<typeof createInterface> | undefined;
  let cancelled = false;
  void env.approvals.next().then(async (request) => {
    if (cancelled) return;
    if (options.approval === 'auto-approve') {
      await env.approvals.approve(request.runId, 'homebound drill --auto-approve');
      say('  approved (--auto-approve)');
      return;
    }
    if (options.approval === 'reject') {
      await env.approvals.reject(
        request.runId,
        'homebound drill --reject',
        'cutover rejected to rehearse the rollback',
      );
      say('  rejected (--reject)');
      return;
    }
    say('  the cutover waits for a decision: open the approval page, or type "approve" or "reject" here');
    say(`Approval page: ${request.url}`);
    prompt = createInterface({ input: process.stdin, output: process.stderr });
    const ask = () =>
      prompt?.question('  decision> ', (answer) => {
        const decision = answer.trim().toLowerCase();
        if (decision !== 'approve' && decision !== 'reject') return ask();
        const operator = `terminal (${process.env.USER ?? 'operator'})`;
        void (
          decision === 'approve'
            ? env.approvals.approve(request.runId, operator)
            : env.approvals.reject(request.runId, operator, 'cutover rejected by the operator')
        ).then((taken) => {
          say(taken ? `  ${decision}d from the terminal` : '  already decided (or no longer waiting)');
          prompt?.close();
        });
      });
    ask();
  });
  return {
    cancel: async () => {
      cancelled = true;
      prompt?.close();
      await served?.close();
    },
  };
}

interface Outcome {
  readonly runId: string;
  readonly host: Awaited<ReturnType<typeof createDrillTakeoverHost>>;
  readonly status: DrillReport['status'];
  readonly reason: string | undefined;
  readonly options: DrillOptions;
  readonly started: Date;
  readonly history: Parameters<typeof phaseDurations>[0];
}

async function drillReport(env: LocalFailback, outcome: Outcome): Promise<DrillReport> {
  const hosts = await env.compute.describeHosts();
  const record = env.deps.staging(runLayout.record(outcome.runId));
  const key = runLayout.reportKey;
  const run = (await record.head(key)) ? parseStagedJson(RunReport, await record.get(key), key) : undefined;
  const sourceHost = hosts.find((candidate) => candidate.hostId === outcome.host.hostId) ?? outcome.host;
  // After a rollback the takeover host writes again: hold it while its volumes are read.
  const pause = await env.compute.workloadOf(outcome.host.hostId)?.pause();
  const volumes = await compareVolumes(
    env,
    outcome.host.volumes.map((volume) => ({
      volumeKey: volume.volumeId,
      sourceVolumeId: volume.volumeId,
      targetVolumeId: run?.volumes.find((candidate) => candidate.sourceVolumeId === volume.volumeId)?.targetVolumeId,
    })),
  );
  const writes = await checkWorkloadWrites(env, outcome.host).finally(() => pause?.resume());
  const takeoverRunning = sourceHost.state === 'running';
  const verified =
    outcome.status === 'succeeded'
      ? volumes.every((volume) => volume.identical) && writes.lost.length === 0 && sourceHost.state === 'stopped'
      : outcome.status === 'rolled-back' && takeoverRunning && writes.lost.length === 0;
  const passes = (run?.passes ?? []).map((pass) => ({
    number: pass.passNumber,
    kind: pass.kind,
    final: pass.final,
    bytesChanged: pass.bytesChanged,
    bytesStaged: pass.bytesStaged,
    blocks: pass.volumes.reduce((sum, volume) => sum + volume.blocksListed, 0),
    seconds: pass.seconds,
  }));
  const { approval, failAt, ...rest } = outcome.options;
  const decision = env.approvals.auditTrail().find((audit) => audit.runId === outcome.runId);
  return {
    format: 'homebound.drill-report/v1',
    runId: outcome.runId,
    status: outcome.status,
    ...(outcome.reason ? { reason: outcome.reason } : {}),
    verified,
    options: { ...rest, approval, ...(failAt ? { failAt } : {}) },
    volumes,
    writes,
    passes,
    bytesChanged: passes.reduce((sum, pass) => sum + pass.bytesChanged, 0),
    bytesStaged: passes.reduce((sum, pass) => sum + pass.bytesStaged, 0),
    downtimeSeconds: run?.downtimeSeconds ?? null,
    ...(decision
      ? {
          decision: {
            outcome: decision.outcome,
            approver: decision.approver,
            channel: decision.channel,
            decidedAt: decision.decidedAt,
          },
        }
      : {}),
    phases: phaseDurations(outcome.history),
    hosts: hosts.map((host) => ({
      hostId: host.hostId,
      name: host.tags.Name ?? host.hostId,
      role: host.role,
      state: host.state,
    })),
    startedAt: outcome.started.toISOString(),
    seconds: (Date.now() - outcome.started.getTime()) / 1000,
  };
}

/** The summary printed at the end of a drill. */
export function drillSummary(report: DrillReport): string[] {
  const lines = [
    `status: ${report.status}${report.reason ? ` — ${report.reason}` : ''}`,
    `verified: ${report.verified}`,
    ...(report.decision
      ? [`cutover ${report.decision.outcome} by ${report.decision.approver} via ${report.decision.channel}`]
      : []),
    `passes: ${report.passes.length} — ${report.passes.map((pass) => `${pass.final ? 'final' : pass.kind} ${mib(pass.bytesChanged)}`).join(', ')}`,
    `bytes changed ${mib(report.bytesChanged)}, staged ${mib(report.bytesStaged)}`,
    `downtime (takeover stopped → failback verified): ${report.downtimeSeconds === null ? 'none (takeover never stopped for cutover)' : `${report.downtimeSeconds.toFixed(2)} s`}`,
    ...report.phases.map((phase) => `  ${phase.name}: ${phase.seconds.toFixed(1)} s`),
    ...report.volumes.map(
      (volume) =>
        `volume ${volume.sourceVolumeId} → ${volume.targetVolumeId ?? '(none)'}: ${volume.identical ? 'identical' : 'differs'} (sha256 ${volume.sourceSha256.slice(0, 16)}… / ${volume.targetSha256?.slice(0, 16) ?? '-'}…)`,
    ),
    `writes by the takeover workload: ${report.writes.writes}, lost: ${report.writes.lost.length}`,
    ...report.hosts.map((host) => `host ${host.hostId} ${host.role} (${host.name}): ${host.state}`),
    `drill took ${report.seconds.toFixed(1)} s`,
  ];
  return lines;
}
