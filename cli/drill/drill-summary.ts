import type { DrillReport } from './drill-report.js';
import { mib } from './progress.js';

/** The summary printed at the end of a drill: what happened, what was verified, what is left to do. */
export function drillSummary(report: DrillReport): string[] {
  return [
    `status: ${report.status}${report.reason ? ` — ${report.reason}` : ''}`,
    report.status === 'refused'
      ? `verified: ${report.verified ? report.verifiedWhat : `false — expected ${report.verifiedWhat}`}`
      : `verified: ${report.verified} — ${report.verifiedWhat}`,
    ...report.failures.map((failure) => `failed: ${failure.state} — ${failure.error}: ${failure.message}`),
    ...report.failAtNotReached.map((state) => `--fail-at ${state}: not reached, so not rehearsed`),
    ...(report.leftToDo.length > 0 ? ['left to do by hand:', ...report.leftToDo.map((item) => `  - ${item}`)] : []),
    ...(report.decision
      ? [`cutover ${report.decision.outcome} by ${report.decision.approver} via ${report.decision.channel}`]
      : []),
    `passes: ${report.passes.length}${report.passes.length > 0 ? ' — ' : ''}${report.passes.map((pass) => `${pass.final ? 'final' : pass.kind} ${mib(pass.bytesChanged)}`).join(', ')}`,
    `bytes changed ${mib(report.bytesChanged)}, staged ${mib(report.bytesStaged)}`,
    downtimeLine(report),
    ...report.phases.map((phase) => `  ${phase.name}: ${phase.seconds.toFixed(2)} s`),
    ...volumeLines(report),
    `writes by the takeover workload: ${report.writes.writes}, lost: ${report.writes.lost.length}`,
    ...report.hosts.map((host) => `host ${host.hostId} ${host.role} (${host.name}): ${host.state}`),
    ...retryLines(report),
    ...seedingLines(report),
    `drill took ${report.seconds.toFixed(1)} s`,
  ];
}

/** `--reject-then-retry`: each run, and how the second started from what the first kept. */
function retryLines(report: DrillReport): string[] {
  const { retry, runs } = report;
  if (!retry || !runs) return [];
  return [
    ...runs.map(
      (run, i) =>
        `run ${i + 1} ${run.runId}: ${run.status}, passes ${run.passes.map((pass) => (pass.final ? 'final' : pass.kind)).join(', ')}${run.firstPass ? `; first pass ${run.firstPass.kind}: ${run.firstPass.reason}` : ''}`,
    ),
    `kept after the rollback: ${retry.keptSnapshots.map((kept) => `${kept.targetVolumeId} holds ${kept.snapshotId}`).join(', ') || 'nothing'}`,
    `retried run's first pass: ${retry.firstPass.kind}, staged ${mib(retry.firstPass.bytesStaged)} for ${mib(retry.bytesChangedSinceKept)} changed since the kept snapshots (×${retry.stagedRatio.toFixed(3)})`,
    `retry verified: ${retry.verified}`,
  ];
}

/** `--reuse-original`: what the seeded first pass staged against what the drill made differ, and the preserved state. */
function seedingLines(report: DrillReport): string[] {
  const { seeding } = report;
  if (!seeding) return [];
  const first = report.passes[0];
  return [
    `seeded first pass: ${first?.kind ?? 'none'}, staged ${mib(first?.bytesStaged ?? 0)} for ${mib(seeding.expectedDifferingBytes)} the drill made differ (${seeding.unrelated ? 'unrelated originals' : `${seeding.divergencePct}% diverged at home`} ∪ takeover writes since the copy)`,
    `originals' state before the run kept as ${seeding.preservedAs.join(', ') || 'nothing'}${seeding.preservedIntact === undefined ? '' : seeding.preservedIntact ? ': intact' : ': NOT intact'}`,
    ...seeding.warnings.map((warning) => `warning: ${warning}`),
  ];
}

function downtimeLine(report: DrillReport): string {
  if (report.downtimeSeconds === null) return `downtime: ${report.downtimeUntil}`;
  return `downtime (takeover stopped → ${report.downtimeUntil}): ${report.downtimeSeconds.toFixed(2)} s`;
}

function volumeLines(report: DrillReport): string[] {
  // After a rollback the takeover host serves on, so its volumes move past the last pass the target got.
  const rolledBack = report.status === 'rolled-back' || report.status === 'rollback-failed';
  const lines = report.volumes.map((volume) => {
    if (volume.targetVolumeId === undefined)
      return `volume ${volume.sourceVolumeId}: no target volume (the run created none)`;
    const hashes = `sha256 ${volume.sourceSha256.slice(0, 16)}… / ${volume.targetSha256?.slice(0, 16) ?? '-'}…`;
    const verdict = volume.identical
      ? 'identical'
      : rolledBack
        ? 'differs, as expected after a rollback: the takeover host kept serving, so the target holds an older pass'
        : 'differs';
    return `volume ${volume.sourceVolumeId} → ${volume.targetVolumeId}: ${verdict} (${hashes})`;
  });
  if (rolledBack && report.volumes.some((volume) => volume.targetVolumeId !== undefined && !volume.identical)) {
    lines.push(
      `  verified instead: every write the takeover workload made (${report.writes.writes}) is on the takeover volumes (${report.writes.lost.length} lost)`,
    );
  }
  return lines;
}
