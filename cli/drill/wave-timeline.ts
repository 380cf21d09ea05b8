import type { DrillReport } from './drill-report.js';

const WIDTH = 720;
const LEFT = 132;
const RIGHT = 24;
const TOP = 34;
const ROW = 48;
const BAR = 16;
const BOTTOM = 36;
const PLOT = WIDTH - LEFT - RIGHT;
/** A segment shorter than this (a wave that stopped and started within a few ms) still shows. */
const MIN_BAR = 4;
const GREY = '#868e96';
const GREEN = '#2b8a3e';
const RED = '#c92a2a';

/** One wave's cutover, as its takeover hosts in the drill report give it. */
export interface WaveCutover {
  readonly wave: number;
  readonly hosts: number;
  readonly takeoverStoppedAt?: string;
  readonly failbackStartedAt?: string;
  readonly healthyAt?: string;
  /** Health checks of the wave's failback hosts that failed in their last round. */
  readonly failedChecks: number;
}

/**
 * The run's waves, lowest first, from its takeover hosts (a failback host carries `replaces`, a sync gateway no wave).
 * Every takeover host of a wave carries the wave's times; the first one's are taken. Empty for a run without waves.
 */
export function cutoverWaves(report: Pick<DrillReport, 'hosts'>): WaveCutover[] {
  const takeover = report.hosts.filter((host) => host.wave !== undefined && host.replaces === undefined);
  const numbers = [...new Set(takeover.map((host) => host.wave ?? 0))].sort((a, b) => a - b);
  return numbers.map((wave) => {
    const hosts = takeover.filter((host) => host.wave === wave);
    const first = hosts[0];
    return {
      wave,
      hosts: hosts.length,
      ...(first?.takeoverStoppedAt === undefined ? {} : { takeoverStoppedAt: first.takeoverStoppedAt }),
      ...(first?.failbackStartedAt === undefined ? {} : { failbackStartedAt: first.failbackStartedAt }),
      ...(first?.healthyAt === undefined ? {} : { healthyAt: first.healthyAt }),
      failedChecks: hosts.flatMap((host) => host.healthChecks ?? []).filter((check) => !check.passed).length,
    };
  });
}

/** A step of 1, 2 or 5 × 10^k giving about five ticks over `span` seconds. */
function tickStep(span: number): number {
  const rough = span / 5;
  const decade = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * decade).find((step) => step >= rough) ?? 10 * decade;
}

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

/** The shared time axis: seconds after the first takeover stop, up to the last time any wave reached. */
interface TimeAxis {
  /** Seconds after the origin; undefined for no time. */
  at(iso: string | undefined): number | undefined;
  x(seconds: number): number;
  readonly span: number;
  /** Hundredths on a short axis (a local drill cuts over in seconds), tenths on a long one. */
  seconds(value: number): string;
}

function timeAxis(times: readonly number[]): TimeAxis {
  const origin = Math.min(...times);
  const span = Math.max(Math.max(...times) - origin, 1000) / 1000;
  const digits = span < 10 ? 2 : 1;
  return {
    at: (iso) => (iso === undefined ? undefined : (Date.parse(iso) - origin) / 1000),
    x: (value) => LEFT + (PLOT * value) / span,
    span,
    seconds: (value) => `${value.toFixed(digits)} s`,
  };
}

/** What a wave's row says in words: under its bars, and in the chart's label. */
function waveText(wave: WaveCutover, axis: TimeAxis): string {
  const stopped = axis.at(wave.takeoverStoppedAt);
  const started = axis.at(wave.failbackStartedAt);
  const healthy = axis.at(wave.healthyAt);
  const parts = [stopped === undefined ? 'takeover hosts not stopped' : `stopped ${axis.seconds(stopped)}`];
  if (started === undefined) {
    if (stopped !== undefined) parts.push('failback hosts not started');
  } else {
    parts.push(`started ${axis.seconds(started)}`);
    if (healthy !== undefined) parts.push(`healthy ${axis.seconds(healthy)} (+${axis.seconds(healthy - started)})`);
    else
      parts.push(wave.failedChecks > 0 ? `NOT healthy: ${plural(wave.failedChecks, 'check')} failed` : 'NOT healthy');
  }
  return parts.join(' · ');
}

/** One wave's row: its number and host count on the left, its bars on the axis, its times in words below them. */
function waveRow(wave: WaveCutover, y: number, axis: TimeAxis): string {
  const stopped = axis.at(wave.takeoverStoppedAt);
  const started = axis.at(wave.failbackStartedAt);
  const healthy = axis.at(wave.healthyAt);
  const bar = (kind: string, from: number, to: number, fill: string, title: string) => {
    const width = Math.max(axis.x(to) - axis.x(from), MIN_BAR);
    return `<rect class="${kind}" data-from="${from.toFixed(3)}" data-to="${to.toFixed(3)}" x="${axis.x(from).toFixed(1)}" y="${y}" width="${width.toFixed(1)}" height="${BAR}" fill="${fill}"><title>wave ${wave.wave}: ${title}</title></rect>`;
  };
  const shapes: string[] = [];
  if (stopped !== undefined) {
    shapes.push(bar('down', stopped, started ?? stopped, GREY, `takeover hosts down from ${axis.seconds(stopped)}`));
    // Never started (a rollback came first): down at least to the axis end; when they came back is not in the report.
    if (started === undefined) {
      const middle = y + BAR / 2;
      shapes.push(
        `<line class="still-down" x1="${axis.x(stopped).toFixed(1)}" y1="${middle}" x2="${axis.x(axis.span).toFixed(1)}" y2="${middle}" stroke="${GREY}" stroke-width="2" stroke-dasharray="4 4"/>`,
      );
    }
  }
  if (started !== undefined && healthy !== undefined) {
    shapes.push(
      bar(
        'up',
        started,
        healthy,
        GREEN,
        `failback hosts started ${axis.seconds(started)}, healthy ${axis.seconds(healthy)}`,
      ),
    );
  } else if (started !== undefined) {
    shapes.push(
      bar('unhealthy', started, axis.span, RED, `failback hosts started ${axis.seconds(started)}, never healthy`),
    );
  }
  const times = [
    stopped === undefined ? '' : ` data-stopped="${stopped.toFixed(3)}"`,
    started === undefined ? '' : ` data-started="${started.toFixed(3)}"`,
    healthy === undefined ? '' : ` data-healthy="${healthy.toFixed(3)}"`,
  ].join('');
  return `<g class="wave" data-wave="${wave.wave}" data-hosts="${wave.hosts}"${times}>
<text x="8" y="${y + 12}" font-size="13" font-weight="bold">wave ${wave.wave}</text><text x="8" y="${y + 28}" font-size="12">${plural(wave.hosts, 'host')}</text>
${shapes.join('\n')}
<text class="times" x="${LEFT}" y="${y + BAR + 15}" font-size="12">${waveText(wave, axis)}</text>
</g>`;
}

/** The axis's ticks and grid lines, about five, at round seconds. */
function ticks(axis: TimeAxis, base: number): string {
  const step = tickStep(axis.span);
  const lines: string[] = [];
  for (let i = 0; i * step <= axis.span * 1.001; i++) {
    const x = axis.x(i * step).toFixed(1);
    lines.push(
      `<line x1="${x}" y1="${TOP - 6}" x2="${x}" y2="${base}" stroke="#e9ecef"/><text x="${x}" y="${base + 16}" text-anchor="middle" font-size="12">${Number((i * step).toFixed(3))}</text>`,
    );
  }
  return lines.join('\n');
}

const LEGEND = `<rect x="${LEFT}" y="4" width="12" height="12" fill="${GREY}"/><text x="${LEFT + 16}" y="14" font-size="12">takeover hosts down</text>
<rect x="${LEFT + 160}" y="4" width="12" height="12" fill="${GREEN}"/><text x="${LEFT + 176}" y="14" font-size="12">failback hosts started → healthy</text>
<rect x="${LEFT + 390}" y="4" width="12" height="12" fill="${RED}"/><text x="${LEFT + 406}" y="14" font-size="12">never healthy</text>`;

/**
 * The cutover as a timeline by wave, one row per wave (lowest on top): a grey bar while the wave's takeover hosts are
 * down before its failback hosts start (takeover stopped → failback started; dashed to the axis end when they never
 * started), a green one from its failback hosts' start to their passing their health checks (red, to the axis end,
 * when they never did). Times are seconds after the first takeover stop (waves stop last first) on one axis up to the
 * last time any wave reached; each row repeats its times in words, and the SVG's label holds them all. One
 * self-contained SVG; '' for a run without waves.
 */
export function waveTimeline(report: Pick<DrillReport, 'hosts'>): string {
  const waves = cutoverWaves(report);
  if (waves.length === 0) return '';
  const times = waves
    .flatMap((wave) => [wave.takeoverStoppedAt, wave.failbackStartedAt, wave.healthyAt])
    .filter((time): time is string => time !== undefined)
    .map((time) => Date.parse(time));
  if (times.length === 0) {
    return `<p id="wave-timeline" data-waves="${waves.length}">No wave was cut over: the takeover hosts never stopped.</p>`;
  }
  const axis = timeAxis(times);
  const base = TOP + waves.length * ROW;
  const height = base + BOTTOM;
  const label = `Cutover by wave, seconds after the first takeover stop: ${waves.map((wave) => `wave ${wave.wave} (${plural(wave.hosts, 'host')}): ${waveText(wave, axis)}`).join('; ')}`;
  return `<svg id="wave-timeline" role="img" aria-label="${label}" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" xmlns="http://www.w3.org/2000/svg">
${LEGEND}
${ticks(axis, base)}
<line x1="${LEFT}" y1="${base}" x2="${WIDTH - RIGHT}" y2="${base}" stroke="#555"/>
<text x="${(LEFT + WIDTH - RIGHT) / 2}" y="${height - 4}" text-anchor="middle" font-size="12">seconds after the first takeover stop (waves stop last first)</text>
${waves.map((wave, i) => waveRow(wave, TOP + i * ROW, axis)).join('\n')}
</svg>`;
}
