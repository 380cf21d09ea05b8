import type { DrillReport } from './drill-report.js';

const MiB = 1024 * 1024;
const WIDTH = 720;
const HEIGHT = 260;
const TOP = 24;
const BOTTOM = 40;
const LEFT = 64;
const RIGHT = 120;
const PLOT = HEIGHT - TOP - BOTTOM;

type Pass = DrillReport['passes'][number];

/**
 * The MiB axis on a log scale. A linear one let the full pass (hundreds of MiB) flatten every incremental pass into a
 * 1–2 px sliver, which hid exactly what the chart is for: passes shrinking towards the threshold. Decades from one
 * below the smallest non-zero value (or the threshold) to the one at or above the largest.
 */
function logAxis(values: readonly number[]): { y: (mib: number) => number; ticks: number[] } {
  const positive = values.filter((value) => value > 0);
  const smallest = positive.length > 0 ? Math.min(...positive) : 1;
  const largest = positive.length > 0 ? Math.max(...positive) : 1;
  const low = 10 ** (Math.floor(Math.log10(smallest)) - 1);
  const high = 10 ** Math.max(Math.ceil(Math.log10(largest)), Math.log10(low) + 1);
  const span = Math.log10(high) - Math.log10(low);
  const y = (mib: number) =>
    mib <= low ? HEIGHT - BOTTOM : HEIGHT - BOTTOM - (PLOT * (Math.log10(mib) - Math.log10(low))) / span;
  const ticks: number[] = [];
  for (let tick = low; tick <= high * 1.001; tick *= 10) ticks.push(tick);
  return { y, ticks };
}

const mibLabel = (mib: number) => (mib >= 10 ? mib.toFixed(0) : mib >= 1 ? mib.toFixed(1) : mib.toPrecision(1));

/** The pass after which the decision came: the last one started before it (needs `startedAt` on the passes). */
function passBeforeDecision(passes: readonly Pass[], decidedAt: string | undefined): number | undefined {
  if (decidedAt === undefined) return undefined;
  const decided = Date.parse(decidedAt);
  let index: number | undefined;
  passes.forEach((pass, i) => {
    if (pass.startedAt !== undefined && Date.parse(pass.startedAt) < decided) index = i;
  });
  return index;
}

/**
 * MiB changed per pass as bars on a log scale, the convergence threshold as a dashed line, and a marker where the
 * cutover decision came (with who took it). One self-contained SVG.
 */
export function convergenceChart(report: DrillReport, thresholdMiB: number | undefined): string {
  const passes = report.passes;
  if (passes.length === 0) return '<p>No pass was applied.</p>';
  const changed = passes.map((pass) => pass.bytesChanged / MiB);
  const axis = logAxis(thresholdMiB === undefined ? changed : [...changed, thresholdMiB]);
  const slot = (WIDTH - LEFT - RIGHT) / passes.length;
  const base = HEIGHT - BOTTOM;

  const grid = axis.ticks
    .map((tick) => {
      const y = axis.y(tick).toFixed(1);
      return `<line x1="${LEFT}" y1="${y}" x2="${WIDTH - RIGHT}" y2="${y}" stroke="#e9ecef"/><text x="${LEFT - 6}" y="${y}" dy="4" text-anchor="end" font-size="11">${mibLabel(tick)}</text>`;
    })
    .join('\n');

  const bars = passes
    .map((pass, i) => {
      const mib = changed[i] ?? 0;
      const y = axis.y(mib);
      const h = base - y;
      const x = LEFT + i * slot + slot * 0.15;
      const fills = { full: '#1c7ed6', seeded: '#7048e8', incremental: '#37b24d' } as const;
      const fill = pass.final ? '#d9480f' : fills[pass.kind];
      const name = pass.final ? 'final' : String(pass.number);
      return `<rect class="pass" data-pass="${pass.number}" data-bytes-changed="${pass.bytesChanged}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${h.toFixed(1)}" fill="${fill}"><title>pass ${pass.number} (${pass.final ? 'final' : pass.kind}): ${mib.toFixed(1)} MiB changed</title></rect>
<text x="${(x + slot * 0.35).toFixed(1)}" y="${(y - 4).toFixed(1)}" text-anchor="middle" font-size="11">${mib.toFixed(1)}</text>
<text x="${(x + slot * 0.35).toFixed(1)}" y="${base + 16}" text-anchor="middle" font-size="11">${name}</text>`;
    })
    .join('\n');

  const threshold =
    thresholdMiB === undefined || thresholdMiB <= 0
      ? ''
      : `<g class="threshold" data-mib="${thresholdMiB}"><line x1="${LEFT}" y1="${axis.y(thresholdMiB).toFixed(1)}" x2="${WIDTH - RIGHT}" y2="${axis.y(thresholdMiB).toFixed(1)}" stroke="#868e96" stroke-dasharray="6 4"/>
<text x="${WIDTH - RIGHT + 6}" y="${axis.y(thresholdMiB).toFixed(1)}" dy="4" font-size="11">converged ≤ ${thresholdMiB} MiB</text></g>`;

  const after = passBeforeDecision(passes, report.decision?.decidedAt);
  const approval =
    after === undefined || report.decision === undefined
      ? ''
      : (() => {
          const x = (LEFT + (after + 1) * slot).toFixed(1);
          return `<g class="approval" data-after-pass="${passes[after]?.number}" data-outcome="${report.decision.outcome}"><line x1="${x}" y1="${TOP - 8}" x2="${x}" y2="${base}" stroke="#7048e8" stroke-width="2" stroke-dasharray="3 3"/>
<text x="${x}" y="${TOP - 12}" text-anchor="middle" font-size="11" fill="#7048e8">${report.decision.outcome}</text></g>`;
        })();

  return `<svg role="img" aria-label="MiB changed per pass, log scale" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" xmlns="http://www.w3.org/2000/svg">
${grid}
<line x1="${LEFT}" y1="${base}" x2="${WIDTH - RIGHT}" y2="${base}" stroke="#555"/>
<text x="8" y="12" font-size="11">MiB changed (log scale)</text>
<text x="${(LEFT + WIDTH - RIGHT) / 2}" y="${HEIGHT - 6}" text-anchor="middle" font-size="11">pass</text>
${bars}
${threshold}
${approval}
</svg>`;
}
