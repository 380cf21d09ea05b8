import type { Host } from '../../core/compute/port.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { RUN_TAG, runLayout } from '../../core/failback/run-state.js';
import { PassRecord } from '../../core/failback/steps/record-pass.js';
import { type ReportWave, RunReport } from '../../core/failback/steps/report.js';
import { HealthCheckFailedError } from '../../core/health/errors.js';
import { ExecutionFailedError, type LocalRunEvent } from '../../core/orchestration/local-runner.js';
import type { LocalFailback } from '../../core/wiring/local.js';
import type { DrillOptions } from './drill-options.js';
import type { DrillReport, DrillStatus } from './drill-report.js';
import { leftToDo } from './left-to-do.js';
import {
  enteredState,
  failuresOf,
  measureDowntime,
  phaseDurations,
  type RunFailure,
  targetVolumesOf,
} from './run-history.js';
import { checkFleetWrites, compareVolumes, type VolumeCheck, type WritesCheck } from './verify.js';

/** How the execution ended, as the drill names it. */
export function drillStatus(error: unknown, failures: readonly RunFailure[]): { status: DrillStatus; reason?: string } {
  if (error === undefined) return { status: 'succeeded' };
  if (!(error instanceof ExecutionFailedError)) throw error;
  if (error.error === 'FailbackRolledBack') return { status: 'rolled-back', reason: error.cause };
  const reason = `${error.error}: ${failures.at(-1)?.message ?? error.cause}`;
  if (error.error === 'RollbackFailedError') return { status: 'rollback-failed', reason };
  if (error.error === 'CleanUpFailedError') return { status: 'failed-after-cutover', reason };
  // ValidateRequest creates nothing: a run that failed there was refused before it touched anything.
  if (failures.length === 1 && failures[0]?.state === 'ValidateRequest') return { status: 'refused', reason };
  return { status: 'failed', reason };
}

export interface FinishedRun {
  readonly runId: string;
  /** The drill's takeover hosts, in request order. */
  readonly hosts: readonly Host[];
  /** What the execution's result rejected with; undefined when it succeeded. */
  readonly error: unknown;
  readonly options: DrillOptions;
  readonly started: Date;
  readonly history: readonly LocalRunEvent[];
}

/**
 * Checks the run's outcome on the local cloud and builds the drill report from what the run did: its history (which
 * states failed, the downtime, the target volumes), its pass records and the hosts as they are now. Not from the run
 * report, which a failure at Report or before it never writes.
 */
export async function drillReport(env: LocalFailback, run: FinishedRun): Promise<DrillReport> {
  const failures = failuresOf(run.history);
  const { status, reason } = drillStatus(run.error, failures);
  const targets = targetVolumesOf(run.history);
  const passes = await passRecords(env, run.runId);
  // After a rollback the takeover hosts write again: hold them while their volumes are read.
  const pauses = await Promise.all(run.hosts.map((host) => env.compute.workloadOf(host.hostId)?.pause()));
  const resume = () => {
    for (const pause of pauses) pause?.resume();
  };
  const volumes = await compareVolumes(
    env,
    run.hosts
      .flatMap((host) => host.volumes)
      .map((volume) => ({
        volumeKey: volume.volumeId,
        sourceVolumeId: volume.volumeId,
        targetVolumeId: targets.get(volume.volumeId),
      })),
  );
  const writes = await checkFleetWrites(env, run.hosts).finally(resume);
  const takeoverIds = new Set(run.hosts.map((host) => host.hostId));
  const hosts = (await env.compute.describeHosts()).filter(
    (host) => takeoverIds.has(host.hostId) || host.tags[RUN_TAG] === run.runId,
  );
  const takeoverStates = hosts.filter((host) => takeoverIds.has(host.hostId)).map((host) => host.state);
  // Every takeover host in one state, or undefined (some host in another, or gone).
  const takeoverState =
    takeoverStates.length === takeoverIds.size && takeoverStates.every((state) => state === takeoverStates[0])
      ? takeoverStates[0]
      : undefined;
  const { verified, verifiedWhat } = verify(status, {
    volumes,
    writes,
    hosts,
    takeoverState,
    takeoverHosts: takeoverIds.size,
  });
  const downtime = measureDowntime(run.history);
  const waves = await reportedWaves(env, run.runId);
  const { approval, failAt, ...rest } = run.options;
  const decision = env.approvals.auditTrail().find((audit) => audit.runId === run.runId);
  return {
    format: 'homebound.drill-report/v1',
    runId: run.runId,
    status,
    ...(reason ? { reason } : {}),
    verified,
    verifiedWhat,
    failures,
    failAtNotReached: failAt.filter((state) => !enteredState(run.history, state)),
    leftToDo: await leftToDo(env, run.runId, [...takeoverIds], status),
    options: { ...rest, approval, failAt },
    volumes,
    writes,
    passes,
    bytesChanged: passes.reduce((sum, pass) => sum + pass.bytesChanged, 0),
    bytesStaged: passes.reduce((sum, pass) => sum + pass.bytesStaged, 0),
    downtimeSeconds: downtime?.seconds ?? null,
    downtimeUntil: downtime?.until ?? 'none: the takeover hosts never stopped',
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
    phases: phaseDurations(run.history),
    hosts: hosts.map((host) => ({
      hostId: host.hostId,
      name: host.tags.Name ?? host.hostId,
      role: host.role,
      state: host.state,
      ...(host.instanceType === undefined ? {} : { instanceType: host.instanceType }),
      ...(host.subnetId === undefined ? {} : { subnetId: host.subnetId }),
      ...(host.privateIp === undefined ? {} : { privateIp: host.privateIp }),
      ...hostCutover(host, waves),
    })),
    startedAt: run.started.toISOString(),
    seconds: (Date.now() - run.started.getTime()) / 1000,
  };
}

/** The run report's waves; none when the run ended before its Report state wrote one. */
async function reportedWaves(env: LocalFailback, runId: string): Promise<readonly ReportWave[]> {
  const record = env.deps.staging(runLayout.record(runId));
  if ((await record.head(runLayout.reportKey)) === undefined) return [];
  return parseStagedJson(RunReport, await record.get(runLayout.reportKey), runLayout.reportKey).waves ?? [];
}

/**
 * What the run report says of a host's cutover: its wave, for a takeover host what its failback host was asked to
 * get (`settings`), its health checks and the times its wave stopped, started and was healthy; for a failback host its
 * wave. Nothing for a host of no wave (a sync gateway).
 */
function hostCutover(host: Host, waves: readonly ReportWave[]): Partial<DrillReport['hosts'][number]> {
  for (const wave of waves) {
    const entry = wave.hosts.find(
      (candidate) => candidate.takeoverHostId === host.hostId || candidate.failbackHostId === host.hostId,
    );
    if (!entry) continue;
    if (entry.takeoverHostId !== host.hostId) return { wave: wave.wave, replaces: entry.takeoverHostId };
    return {
      wave: wave.wave,
      ...(entry.failbackHostId === undefined ? {} : { failbackHostId: entry.failbackHostId }),
      ...(entry.settings === undefined ? {} : { settings: entry.settings }),
      ...(entry.healthChecks === undefined
        ? {}
        : { healthChecks: entry.healthChecks.map((check) => ({ name: check.name, passed: check.passed })) }),
      ...(wave.takeoverStoppedAt === undefined ? {} : { takeoverStoppedAt: wave.takeoverStoppedAt }),
      ...(wave.failbackStartedAt === undefined ? {} : { failbackStartedAt: wave.failbackStartedAt }),
      ...(wave.healthyAt === undefined ? {} : { healthyAt: wave.healthyAt }),
    };
  }
  return {};
}

/** The pass records the run wrote as each pass was applied (kept after clean-up, unlike the staged passes). */
async function passRecords(env: LocalFailback, runId: string): Promise<DrillReport['passes']> {
  const record = env.deps.staging(runLayout.record(runId));
  const passes: DrillReport['passes'][number][] = [];
  for (const key of (await record.list('passes/')).sort()) {
    const pass = parseStagedJson(PassRecord, await record.get(key), key);
    passes.push({
      number: pass.passNumber,
      kind: pass.kind,
      final: pass.final,
      bytesChanged: pass.bytesChanged,
      bytesStaged: pass.bytesStaged,
      blocks: pass.volumes.reduce((sum, volume) => sum + volume.blocksListed, 0),
      seconds: pass.seconds,
      startedAt: pass.startedAt,
      ...(pass.kind === 'seeded' ? seededCounts(pass) : {}),
    });
  }
  return passes;
}

/** A seeded pass's counts over its volumes (a volume without a seed in it counts as compared and differing in full). */
function seededCounts(pass: PassRecord): { blocksCompared: number; blocksDiffering: number } {
  return {
    blocksCompared: pass.volumes.reduce((sum, volume) => sum + (volume.blocksCompared ?? volume.blocksListed), 0),
    blocksDiffering: pass.volumes.reduce((sum, volume) => sum + (volume.blocksDiffering ?? volume.blocksListed), 0),
  };
}

interface Observed {
  readonly volumes: readonly VolumeCheck[];
  readonly writes: WritesCheck;
  readonly hosts: readonly Host[];
  /** The takeover hosts' state when all are in the same one, else undefined. */
  readonly takeoverState: string | undefined;
  readonly takeoverHosts: number;
}

/** What each outcome must show on the local cloud to be true, and that sentence. */
function verify(status: DrillStatus, observed: Observed): { verified: boolean; verifiedWhat: string } {
  const { volumes, writes, hosts, takeoverState, takeoverHosts } = observed;
  const nothingLost = writes.lost.length === 0;
  const allWrites = `every write the takeover workload made (${writes.writes}) is on`;
  switch (status) {
    case 'succeeded':
    case 'failed-after-cutover':
      return {
        verified: volumes.every((volume) => volume.identical) && nothingLost && takeoverState === 'stopped',
        verifiedWhat: `each failback volume is byte-identical to its takeover volume as it stopped, and ${allWrites} them`,
      };
    case 'rolled-back':
      return {
        verified: takeoverState === 'running' && nothingLost,
        verifiedWhat: `the takeover ${takeoverHosts === 1 ? 'host runs' : 'hosts run'} again and ${allWrites} ${takeoverHosts === 1 ? 'its' : 'their'} volumes`,
      };
    case 'rollback-failed':
      return {
        verified: nothingLost,
        verifiedWhat: `nothing written was lost: ${allWrites} the takeover volumes (production is not back: see what is left to do)`,
      };
    case 'refused':
      return {
        verified: hosts.length === takeoverHosts && takeoverState === 'running' && nothingLost,
        verifiedWhat:
          'nothing to verify: refused before anything was created (no gateway, no target, the takeover host runs on untouched)',
      };
    case 'failed':
      return { verified: false, verifiedWhat: 'the run failed outside what the drill rehearses' };
  }
}

/** Errors a rehearsal asks for: an injected failure, or a rejected cutover (--reject, or a person's choice). */
const REHEARSED_ERRORS: ReadonlySet<string> = new Set(['DrillInjectedFailure', 'CutoverRejectedError']);

/**
 * True when the drill ended as it was asked to: verified, every `--fail-at` reached, and every failure one the
 * rehearsal asked for (so a cutover with no failure, or any outcome of injected failures and rejections, but not
 * a rollback for an approval timeout or a real error).
 */
export function endedAsRehearsed(report: DrillReport): boolean {
  const healthFaults = report.options.healthCheckFaults;
  const rehearsedHealth = Array.isArray(healthFaults) && healthFaults.length > 0;
  return (
    report.verified &&
    report.status !== 'failed' &&
    report.failAtNotReached.length === 0 &&
    report.failures.every(
      (failure) =>
        REHEARSED_ERRORS.has(failure.error) || (rehearsedHealth && failure.error === HealthCheckFailedError.name),
    )
  );
}
