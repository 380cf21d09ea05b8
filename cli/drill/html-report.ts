import { convergenceChart } from './convergence-chart.js';
import type { DrillReport } from './drill-report.js';
import { waveTimeline } from './wave-timeline.js';

const MiB = 1024 * 1024;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A cell's content: plain text, or markup already escaped. */
type Cell = string | number | { readonly html: string };

/** A hash cut to its first 12 hex characters, the whole value in a tooltip: 64-character cells pushed the page past 1280 px. */
function shortHash(hash: string | undefined): Cell {
  if (hash === undefined) return '-';
  return { html: `<code title="${escapeHtml(hash)}">${escapeHtml(hash.slice(0, 12))}…</code>` };
}

function table(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const cell = (value: Cell) => (typeof value === 'object' ? value.html : escapeHtml(String(value)));
  const body = rows.map((row) => `<tr>${row.map((value) => `<td>${cell(value)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function decisionLine(report: DrillReport): string {
  const decision = report.decision;
  if (!decision) return '<p id="decision" data-outcome="none">No cutover decision was taken.</p>';
  return `<p id="decision" data-outcome="${escapeHtml(decision.outcome)}">Cutover <strong>${escapeHtml(decision.outcome)}</strong> by <strong class="approver">${escapeHtml(decision.approver)}</strong> via ${escapeHtml(decision.channel)} at ${escapeHtml(decision.decidedAt)}.</p>`;
}

/** `homebound drill --html`: the drill report as one self-contained page (no scripts, no external assets), ≤ 1280 px wide. */
export function renderDrillHtml(report: DrillReport): string {
  const verdict = report.verified ? 'verified' : 'NOT verified';
  const threshold = report.options.thresholdMiB;
  const timeline = waveTimeline(report);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>homebound drill ${escapeHtml(report.runId)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;margin:1em 0;max-width:100%}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;overflow-wrap:anywhere}svg{max-width:100%;height:auto}.ok{color:#2b8a3e}.bad{color:#c92a2a}</style>
</head><body>
<h1>homebound drill <code>${escapeHtml(report.runId)}</code></h1>
<p id="status" data-status="${report.status}" data-verified="${report.verified}">Status <strong>${escapeHtml(report.status)}</strong>,
<strong class="${report.verified ? 'ok' : 'bad'}">${verdict}</strong>${report.reason ? ` — ${escapeHtml(report.reason)}` : ''}.</p>
${decisionLine(report)}
<p>Downtime${report.downtimeSeconds === null ? '' : ` (takeover stopped → ${escapeHtml(report.downtimeUntil)})`}: <strong id="downtime">${report.downtimeSeconds === null ? escapeHtml(report.downtimeUntil) : `${report.downtimeSeconds.toFixed(2)} s`}</strong>.
Bytes changed ${(report.bytesChanged / MiB).toFixed(1)} MiB, staged ${(report.bytesStaged / MiB).toFixed(1)} MiB. The drill took ${report.seconds.toFixed(1)} s.</p>
<h2>Convergence</h2>
${convergenceChart(report, typeof threshold === 'number' ? threshold : undefined)}
${table(
  ['pass', 'kind', 'blocks', 'MiB changed', 'MiB staged', 'seconds'],
  report.passes.map((pass) => [
    pass.number,
    pass.final ? 'final' : pass.kind,
    pass.blocks,
    (pass.bytesChanged / MiB).toFixed(1),
    (pass.bytesStaged / MiB).toFixed(1),
    pass.seconds.toFixed(2),
  ]),
)}
${timeline === '' ? '' : `<h2>Cutover by wave</h2>\n${timeline}\n`}<h2>Phases</h2>
${table(
  ['phase', 'seconds'],
  report.phases.map((phase) => [phase.name, phase.seconds.toFixed(1)]),
)}
<h2>Volumes</h2>
${table(
  ['takeover volume', 'failback volume', 'source SHA-256', 'target SHA-256', 'identical'],
  report.volumes.map((volume) => [
    volume.sourceVolumeId,
    volume.targetVolumeId ?? '-',
    shortHash(volume.sourceSha256),
    shortHash(volume.targetSha256),
    volume.identical ? 'yes' : 'no',
  ]),
)}
<p>Writes made by the takeover workload: ${report.writes.writes}; lost: ${report.writes.lost.length}.</p>
<h2>Hosts</h2>
${table(
  ['host', 'name', 'role', 'wave', 'final state'],
  report.hosts.map((host) => [host.hostId, host.name, host.role, host.wave ?? '-', host.state]),
)}
</body></html>
`;
}
