import { BLOCK_SIZE } from '../../core/blocks.js';
import type { Host } from '../../core/compute/port.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { FirstPass, KEPT_FOR_TAG, KeptTarget } from '../../core/failback/kept-target.js';
import { RUN_TAG, runLayout } from '../../core/failback/run-state.js';
import { RunReport } from '../../core/failback/steps/report.js';
import { PASS_TAG } from '../../core/failback/steps/snapshots.js';
import type { LocalRunEvent } from '../../core/orchestration/local-runner.js';
import type { LocalFailback } from '../../core/wiring/local.js';
import type { DrillReport, DrillRun, RetryCheck } from './drill-report.js';

/** The largest staged/changed ratio the incremental first pass of the retried run may have (the acceptance bound). */
export const MAX_STAGED_RATIO = 1.1;

/** What the rejected run left on the local cloud, found by tags as the next run will find it. */
export interface KeptState {
  readonly runId: string;
  /** One per takeover volume that has a kept target volume holding a kept snapshot. */
  readonly snapshots: readonly {
    readonly volumeId: string;
    readonly snapshotId: string;
    readonly targetVolumeId: string;
  }[];
  /** Every takeover volume has a kept target volume. */
  readonly targetVolumesKept: boolean;
  /** Failback hosts of the rejected run not terminated (none after a proper rollback: a stopped one keeps its address). */
  readonly failbackHostsLeft: readonly string[];
}

export async function keptState(env: LocalFailback, runId: string, hosts: readonly Host[]): Promise<KeptState> {
  const snapshots: KeptState['snapshots'][number][] = [];
  let targetVolumesKept = true;
  for (const volume of hosts.flatMap((host) => host.volumes)) {
    const [target] = await env.compute.findVolumes({ [KEPT_FOR_TAG]: volume.volumeId });
    const [snapshot] = await env.compute.findSnapshots({ [KEPT_FOR_TAG]: volume.volumeId });
    if (!target) targetVolumesKept = false;
    if (target && snapshot) {
      snapshots.push({ volumeId: volume.volumeId, snapshotId: snapshot.snapshotId, targetVolumeId: target.volumeId });
    }
  }
  const failbackHostsLeft = (await env.compute.describeHosts({ tag: { key: RUN_TAG, value: runId } }))
    .filter((candidate) => candidate.role === 'failback' && candidate.state !== 'terminated')
    .map((candidate) => candidate.hostId);
  return { runId, snapshots, targetVolumesKept, failbackHostsLeft };
}

/**
 * Measures, straight from the local cloud's snapshot store, how many bytes changed between each kept snapshot and
 * the retried run's first snapshot of the same volume: started when that run enters StreamPass for the first time
 * (its pass 1 snapshots are complete and the kept ones not yet superseded).
 */
export class ChangedSinceKept {
  private measuring: Promise<number> | undefined;

  constructor(
    private readonly env: LocalFailback,
    private readonly kept: KeptState['snapshots'],
  ) {}

  onEvent(event: LocalRunEvent, runId: string): void {
    if (this.measuring || event.type !== 'StateEntered' || event.stateName !== 'StreamPass') return;
    this.measuring = this.measure(runId);
    this.measuring.catch(() => undefined);
  }

  /** The bytes changed since the kept snapshots; NaN when the run never streamed a pass. */
  async bytes(): Promise<number> {
    return this.measuring ?? Number.NaN;
  }

  private async measure(runId: string): Promise<number> {
    const first = await this.env.compute.findSnapshots({ [RUN_TAG]: runId, [PASS_TAG]: '1' });
    let bytes = 0;
    for (const kept of this.kept) {
      const next = first.find((snapshot) => snapshot.volumeId === kept.volumeId);
      if (!next) continue;
      const info = await this.env.cloud.store.get(next.snapshotId);
      const changed = await this.env.cloud.store.changedBlocks(kept.snapshotId, next.snapshotId, 0, 2 ** 31);
      bytes += Math.min(changed.length * BLOCK_SIZE, info.sourceBytes);
    }
    return bytes;
  }
}

async function drillRun(env: LocalFailback, report: DrillReport): Promise<DrillRun> {
  const record = env.deps.staging(runLayout.record(report.runId));
  const runReport = await record
    .get(runLayout.reportKey)
    .then((body) => parseStagedJson(RunReport, body, runLayout.reportKey))
    .catch(() => undefined);
  return {
    runId: report.runId,
    status: report.status,
    ...(report.reason ? { reason: report.reason } : {}),
    verified: report.verified,
    leftToDo: report.leftToDo,
    ...(runReport?.firstPass ? { firstPass: FirstPass.parse(runReport.firstPass) } : {}),
    ...(runReport?.keptTargets ? { keptTargets: runReport.keptTargets.map((kept) => KeptTarget.parse(kept)) } : {}),
    passes: report.passes,
  };
}

/**
 * The report of `--reject-then-retry`: the second run's report (its volumes, writes and hosts), both runs with their
 * passes, and the retry check: the first run rolled back as it must (takeover running with all its writes, no
 * failback host left (all terminated), target volumes kept with their snapshots); the second started with an incremental pass whose
 * bytes staged are at most MAX_STAGED_RATIO × the bytes changed since the kept snapshots, and ended verified.
 */
export async function retryReport(
  env: LocalFailback,
  runs: { first: DrillReport; kept: KeptState; second: DrillReport; bytesChangedSinceKept: number },
): Promise<DrillReport> {
  const { first, kept, second, bytesChangedSinceKept } = runs;
  const firstRun = await drillRun(env, first);
  const secondRun = await drillRun(env, second);
  const firstPass = second.passes[0];
  const bytesStaged = firstPass?.bytesStaged ?? Number.NaN;
  const retry: RetryCheck = {
    firstRunRolledBack: first.status === 'rolled-back' && first.verified,
    failbackHostsLeftAfterRollback: kept.failbackHostsLeft,
    targetVolumesKept: kept.targetVolumesKept,
    keptSnapshots: kept.snapshots,
    firstPass: {
      kind: firstPass?.kind ?? 'full',
      reason: secondRun.firstPass?.reason ?? '(no run report)',
      bytesStaged,
      bytesChanged: firstPass?.bytesChanged ?? Number.NaN,
    },
    bytesChangedSinceKept,
    stagedRatio: bytesStaged / bytesChangedSinceKept,
    verified: false,
  };
  const verified =
    retry.firstRunRolledBack &&
    retry.failbackHostsLeftAfterRollback.length === 0 &&
    retry.targetVolumesKept &&
    retry.firstPass.kind === 'incremental' &&
    secondRun.firstPass?.kind === 'incremental' &&
    bytesStaged <= MAX_STAGED_RATIO * bytesChangedSinceKept;
  return {
    ...second,
    verified: second.verified && verified,
    verifiedWhat: `${second.verifiedWhat}; and the rejected run before it rolled back keeping its target volumes, and this run started from them with an incremental pass staging at most ${MAX_STAGED_RATIO}× the bytes changed since the kept snapshots`,
    failures: [...first.failures, ...second.failures],
    runs: [firstRun, secondRun],
    retry: { ...retry, verified },
  };
}
