import { z } from 'zod';
import type { HostState } from '../../compute/port.js';
import { parseStagedJson } from '../../engine/manifest.js';
import { FirstPass, KeptTarget } from '../kept-target.js';
import {
  type FailbackDeps,
  FailbackState,
  HostSettings,
  RunVolume,
  runLayout,
  TakeoverHost,
  TargetState,
  type Wave,
  wavesOf,
} from '../run-state.js';
import { PassRecord } from './record-pass.js';

const HealthCheckResult = z.object({ name: z.string(), passed: z.boolean(), detail: z.string().optional() });

/**
 * One wave of a StartFailbackWaves / CutoverWaves iteration (the ASL's WaveHealthy state; WaveHandedToOperator's has no
 * `healthyAt`: the manual platform cannot see its hosts). A host is its failback host's id (automated) or its takeover
 * host's (conditional-automated, checked by the agent).
 */
const CutoverWave = z.object({
  wave: z.number(),
  failbackStartedAt: z.string(),
  healthyAt: z.string().optional(),
  hosts: z.array(z.object({ hostId: z.string(), healthy: z.boolean(), checks: z.array(HealthCheckResult) })),
});

export const ReportInput = z.object({
  runId: z.string(),
  outcome: z.object({ status: z.enum(['succeeded', 'rolled-back']) }),
  takeoverHostIds: z.array(z.string()).min(1),
  volumes: z.array(RunVolume).min(1),
  target: TargetState.optional(),
  /** The on-prem agent's PrepareTarget answer (conditional-automated): how its first pass starts. */
  onpremTarget: z.object({ firstPass: FirstPass.optional() }).optional(),
  failback: FailbackState.optional(),
  takeoverStopped: z.object({ at: z.string() }).optional(),
  /** The run's takeover hosts, their waves and settings. */
  hosts: z.array(TakeoverHost).optional(),
  /** StopTakeoverHosts' result: each wave as it stopped, in stop order. */
  takeoverWaves: z.array(z.object({ wave: z.number(), stoppedAt: z.string() })).optional(),
  /** StartFailbackWaves' result: each wave as it started and passed its health checks, in start order. */
  cutoverWaves: z.array(CutoverWave).optional(),
  verification: z.object({ at: z.string() }).optional(),
  rollback: z.object({ reason: z.string() }).optional(),
  /** CleanUp's result: after a rollback, the target volumes kept and the snapshots they hold. */
  cleanUp: z.object({ kept: z.array(KeptTarget).optional() }).optional(),
});
export type ReportInput = z.infer<typeof ReportInput>;

/** A wave in the run report: when it stopped, started and was healthy, and per host what was applied and checked. */
export const ReportWave = z.object({
  wave: z.number(),
  takeoverStoppedAt: z.string().optional(),
  failbackStartedAt: z.string().optional(),
  healthyAt: z.string().optional(),
  hosts: z.array(
    z.object({
      takeoverHostId: z.string(),
      name: z.string(),
      failbackHostId: z.string().optional(),
      /** What the failback host was asked to get (resolved by ValidateRequest); absent: the deployment's defaults. */
      settings: HostSettings.optional(),
      /** The last round of its health checks at cutover; absent when its wave never started. */
      healthChecks: z.array(HealthCheckResult).optional(),
    }),
  ),
});
export type ReportWave = z.infer<typeof ReportWave>;

/** The run report, kept at `runs/<runId>/record/report.json`. */
export const RunReport = z.object({
  format: z.literal('homebound.run-report/v1'),
  runId: z.string(),
  status: z.enum(['succeeded', 'rolled-back']),
  reason: z.string().optional(),
  passes: z.array(PassRecord),
  /** Why the first pass was full or incremental (a kept target volume proven to hold its snapshot, or not). */
  firstPass: FirstPass.optional(),
  /** After a rollback: the target volumes kept for the next run, with the snapshot each holds or why none. */
  keptTargets: z.array(KeptTarget).optional(),
  bytesChanged: z.number(),
  bytesStaged: z.number(),
  /** The passes' warnings, e.g. a seed that saved nothing. */
  warnings: z.array(z.string()).optional(),
  /** Takeover hosts stopped → failback hosts verified; absent when the takeover hosts never stopped for cutover. */
  downtimeSeconds: z.number().optional(),
  takeoverStoppedAt: z.string().optional(),
  failbackVerifiedAt: z.string().optional(),
  volumes: z.array(
    z.object({
      volumeKey: z.string(),
      sourceVolumeId: z.string(),
      targetVolumeId: z.string().optional(),
      /** A seeded target: the snapshot keeping the seed's state before the run (the operator deletes it when done). */
      seedPreservedAs: z.string().optional(),
    }),
  ),
  hosts: z.array(
    z.object({
      hostId: z.string(),
      role: z.string(),
      state: z.string(),
      replaces: z.string().optional(),
      /** What the host runs as and where, as the compute port describes it (a failback host: what it was launched with). */
      instanceType: z.string().optional(),
      subnetId: z.string().optional(),
      privateIp: z.string().optional(),
    }),
  ),
  /** The cutover wave by wave (one wave when the request gives none). */
  waves: z.array(ReportWave).optional(),
  finishedAt: z.string(),
});
export type RunReport = z.infer<typeof RunReport>;

/** Gathers the pass records and the hosts' final states into the run report; returns a small summary. */
export async function report(
  input: ReportInput,
  deps: FailbackDeps,
): Promise<{ status: string; passes: number; downtimeSeconds?: number; reportKey: string }> {
  const record = deps.staging(runLayout.record(input.runId));
  const passes: PassRecord[] = [];
  for (const key of (await record.list('passes/')).sort())
    passes.push(parseStagedJson(PassRecord, await record.get(key), key));
  const failbackIds = input.failback?.hostIds ?? [];
  const hosts = await deps.compute.describeHosts({ hostIds: [...input.takeoverHostIds, ...failbackIds] });
  const stoppedAt = input.takeoverStopped?.at;
  const status = input.outcome.status;
  const verifiedAt = status === 'succeeded' ? input.verification?.at : undefined;
  const downtimeSeconds =
    stoppedAt && verifiedAt ? Math.max(0, (Date.parse(verifiedAt) - Date.parse(stoppedAt)) / 1000) : undefined;
  const body: RunReport = {
    format: 'homebound.run-report/v1',
    runId: input.runId,
    status,
    ...(input.rollback ? { reason: input.rollback.reason } : {}),
    passes,
    ...((input.target?.firstPass ?? input.onpremTarget?.firstPass)
      ? { firstPass: input.target?.firstPass ?? input.onpremTarget?.firstPass }
      : {}),
    ...(input.cleanUp?.kept ? { keptTargets: input.cleanUp.kept } : {}),
    bytesChanged: passes.reduce((sum, pass) => sum + pass.bytesChanged, 0),
    bytesStaged: passes.reduce((sum, pass) => sum + pass.bytesStaged, 0),
    ...(passes.some((pass) => pass.warnings) ? { warnings: passes.flatMap((pass) => pass.warnings ?? []) } : {}),
    ...(downtimeSeconds === undefined ? {} : { downtimeSeconds }),
    ...(stoppedAt ? { takeoverStoppedAt: stoppedAt } : {}),
    ...(verifiedAt ? { failbackVerifiedAt: verifiedAt } : {}),
    volumes: input.volumes.map((volume) => {
      const target = input.target?.volumes.find((candidate) => candidate.volumeKey === volume.volumeKey);
      return {
        volumeKey: volume.volumeKey,
        sourceVolumeId: volume.volumeId,
        ...(target ? { targetVolumeId: target.targetVolumeId } : {}),
        ...(target?.seed ? { seedPreservedAs: target.seed.preservedAs } : {}),
      };
    }),
    hosts: hosts.map((host) => ({
      hostId: host.hostId,
      role: host.role,
      state: host.state satisfies HostState,
      ...(host.tags['homebound:replaces'] ? { replaces: host.tags['homebound:replaces'] } : {}),
      ...(host.instanceType === undefined ? {} : { instanceType: host.instanceType }),
      ...(host.subnetId === undefined ? {} : { subnetId: host.subnetId }),
      ...(host.privateIp === undefined ? {} : { privateIp: host.privateIp }),
    })),
    ...(input.hosts ? { waves: reportWaves(input, input.hosts) } : {}),
    finishedAt: deps.now().toISOString(),
  };
  await record.put(runLayout.reportKey, Buffer.from(JSON.stringify(body, null, 2)));
  return {
    status: body.status,
    passes: passes.length,
    ...(downtimeSeconds === undefined ? {} : { downtimeSeconds }),
    reportKey: runLayout.record(input.runId) + runLayout.reportKey,
  };
}

/** The run's waves with what StopTakeoverHosts and StartFailbackWaves recorded of each. */
function reportWaves(input: ReportInput, hosts: readonly TakeoverHost[]): ReportWave[] {
  return wavesOf(hosts).map((wave: Wave): ReportWave => {
    const stopped = input.takeoverWaves?.find((candidate) => candidate.wave === wave.wave);
    const started = input.cutoverWaves?.find((candidate) => candidate.wave === wave.wave);
    return {
      wave: wave.wave,
      ...(stopped ? { takeoverStoppedAt: stopped.stoppedAt } : {}),
      ...(started ? { failbackStartedAt: started.failbackStartedAt } : {}),
      ...(started?.healthyAt ? { healthyAt: started.healthyAt } : {}),
      hosts: hosts
        .filter((host) => wave.takeoverHostIds.includes(host.hostId))
        .map((host) => {
          const failbackHostId = input.failback?.hosts.find(
            (candidate) => candidate.takeoverHostId === host.hostId,
          )?.failbackHostId;
          const health = started?.hosts.find((candidate) => candidate.hostId === (failbackHostId ?? host.hostId));
          return {
            takeoverHostId: host.hostId,
            name: host.name,
            ...(failbackHostId === undefined ? {} : { failbackHostId }),
            ...(host.failback ? { settings: host.failback } : {}),
            ...(health
              ? {
                  healthChecks: health.checks.map((check) => ({
                    name: check.name,
                    passed: check.passed,
                    ...(check.detail ? { detail: check.detail } : {}),
                  })),
                }
              : {}),
          };
        }),
    };
  });
}
