import type { DrillReport } from './drill-report.js';

const MiB = 1024 * 1024;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Bars of MiB changed per pass, so convergence shows at a glance; the final pass is drawn apart. */
function convergenceChart(report: DrillReport): string {
  const width = 640;
  const height = 220;
  const top = 20;
  const bottom = 40;
  const left = 60;
  const passes = report.passes;
  if (passes.length === 0) return '<p>No pass was applied.</p>';
  const max = Math.max(...passes.map((pass) => pass.bytesChanged), 1);
  const slot = (width - left - 10) / passes.length;
  const bars = passes
    .map((pass, i) => {
      const h = ((height - top - bottom) * pass.bytesChanged) / max;
      const x = left + i * slot + slot * 0.15;
      const y = height - bottom - h;
      const fill = pass.final ? '#d9480f' : pass.kind === 'full' ? '#1c7ed6' : '#37b24d';
      const label = `${(pass.bytesChanged / MiB).toFixed(1)}`;
      return `<rect class="pass" data-pass="${pass.number}" data-bytes-changed="${pass.bytesChanged}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${h.toFixed(1)}" fill="${fill}"><title>pass ${pass.number} (${pass.final ? 'final' : pass.kind}): ${label} MiB changed</title></rect>
<text x="${(x + slot * 0.35).toFixed(1)}" y="${(y - 4).toFixed(1)}" text-anchor="middle" font-size="11">${label}</text>
<text x="${(x + slot * 0.35).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle" font-size="11">${pass.final ? 'final' : pass.number}</text>`;
    })
    .join('\n');
  return `<svg role="img" aria-label="MiB changed per pass" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">
<line x1="${left}" y1="${height - bottom}" x2="${width - 10}" y2="${height - bottom}" stroke="#555"/>
<text x="10" y="${top}" font-size="11">MiB changed</text>
<text x="${width / 2}" y="${height - 6}" text-anchor="middle" font-size="11">pass</text>
${bars}
</svg>`;
}

function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows
    .map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(String(cell))}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** `homebound drill --html`: the drill report as one self-contained page (no scripts, no external assets). */
export function renderDrillHtml(report: DrillReport): string {
  const verdict = report.verified ? 'verified' : 'NOT verified';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>homebound drill ${escapeHtml(report.runId)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.ok{color:#2b8a3e}.bad{color:#c92a2a}</style>
</head><body>
<h1>homebound drill <code>${escapeHtml(report.runId)}</code></h1>
<p id="status" data-status="${report.status}" data-verified="${report.verified}">Status <strong>${escapeHtml(report.status)}</strong>,
<strong class="${report.verified ? 'ok' : 'bad'}">${verdict}</strong>${report.reason ? ` — ${escapeHtml(report.reason)}` : ''}.</p>
<p>Downtime${report.downtimeSeconds === null ? '' : ` (takeover stopped → ${escapeHtml(report.downtimeUntil)})`}: <strong id="downtime">${report.downtimeSeconds === null ? escapeHtml(report.downtimeUntil) : `${report.downtimeSeconds.toFixed(2)} s`}</strong>.
Bytes changed ${(report.bytesChanged / MiB).toFixed(1)} MiB, staged ${(report.bytesStaged / MiB).toFixed(1)} MiB. The drill took ${report.seconds.toFixed(1)} s.</p>
<h2>Convergence</h2>
${convergenceChart(report)}
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
<h2>Phases</h2>
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
    volume.sourceSha256,
    volume.targetSha256 ?? '-',
    volume.identical ? 'yes' : 'no',
  ]),
)}
<p>Writes made by the takeover workload: ${report.writes.writes}; lost: ${report.writes.lost.length}.</p>
<h2>Hosts</h2>
${table(
  ['host', 'name', 'role', 'final state'],
  report.hosts.map((host) => [host.hostId, host.name, host.role, host.state]),
)}
</body></html>
`;
}
