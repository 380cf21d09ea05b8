import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../cli/drill/drill-report.js';
import { renderDrillHtml } from '../../cli/drill/html-report.js';

const MiB = 1024 * 1024;
const HASH_A = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8);
const HASH_B = 'c'.repeat(8) + 'fedcba9876543210'.repeat(3) + 'd'.repeat(8);

/** A drill that converged under 16 MiB at pass 4, was approved, then caught up and made its final pass. */
const passes: [number, 'full' | 'incremental', boolean, number, string][] = [
  [1, 'full', false, 300, '2026-12-02T10:00:00.000Z'],
  [2, 'incremental', false, 40, '2026-12-02T10:00:20.000Z'],
  [3, 'incremental', false, 20, '2026-12-02T10:00:25.000Z'],
  [4, 'incremental', false, 12, '2026-12-02T10:00:28.000Z'],
  [5, 'incremental', false, 3, '2026-12-02T10:01:10.000Z'],
  [6, 'incremental', true, 1.5, '2026-12-02T10:01:12.000Z'],
];
const REPORT: DrillReport = {
  format: 'homebound.drill-report/v1',
  runId: 'drill-2026-12-02t10-00-00-000z',
  status: 'succeeded',
  verified: true,
  verifiedWhat: 'each failback volume is byte-identical to its takeover volume as the takeover host stopped',
  failures: [],
  failAtNotReached: [],
  leftToDo: [],
  options: { volumes: 2, sizeMiB: 256, thresholdMiB: 16, maxPasses: 8, approval: 'ask' },
  volumes: [
    {
      volumeKey: 'vol-0123456789abcdef0',
      sourceVolumeId: 'vol-0123456789abcdef0',
      targetVolumeId: 'vol-0fedcba9876543210',
      sourceSha256: HASH_A,
      targetSha256: HASH_A,
      identical: true,
    },
    {
      volumeKey: 'vol-0123456789abcdef1',
      sourceVolumeId: 'vol-0123456789abcdef1',
      targetVolumeId: 'vol-0fedcba9876543211',
      sourceSha256: HASH_B,
      targetSha256: HASH_B,
      identical: true,
    },
  ],
  writes: { writes: 1234, blocksChecked: 600, lost: [] },
  passes: passes.map(([number, kind, final, mib, startedAt]) => ({
    number,
    kind,
    final,
    bytesChanged: mib * MiB,
    bytesStaged: mib * MiB * 0.9,
    blocks: (mib * MiB) / 524288,
    seconds: 2,
    startedAt,
  })),
  bytesChanged: 378.5 * MiB,
  bytesStaged: 340 * MiB,
  downtimeSeconds: 1.3,
  downtimeUntil: 'failback hosts verified',
  decision: {
    outcome: 'approved',
    approver: 'drill-operator@localhost',
    channel: 'page',
    decidedAt: '2026-12-02T10:01:05.000Z',
  },
  phases: [{ name: 'passes while the takeover hosts serve', seconds: 30 }],
  hosts: [{ hostId: 'i-0123456789abcdef0', name: 'takeover-1', role: 'takeover', state: 'stopped' }],
  startedAt: '2026-12-02T10:00:00.000Z',
  seconds: 80,
};

const html = renderDrillHtml(REPORT);

/** pass number → [bar height, bar top y] from the SVG. */
function bars(page: string): Map<number, { height: number; y: number }> {
  const found = new Map<number, { height: number; y: number }>();
  for (const match of page.matchAll(/<rect class="pass" data-pass="(\d+)"[^>]* y="([\d.]+)"[^>]* height="([\d.]+)"/g)) {
    found.set(Number(match[1]), { y: Number(match[2]), height: Number(match[3]) });
  }
  return found;
}

describe('the drill HTML report', () => {
  it('draws MiB changed on a log scale: no pass shrinks to a sliver next to the full pass', () => {
    const heights = bars(html);
    expect([...heights.keys()]).toEqual([1, 2, 3, 4, 5, 6]);
    const full = heights.get(1)?.height ?? 0;
    // Linear, 12 MiB next to 300 MiB is 4% and the 1.5 MiB final pass 0.5%.
    expect(heights.get(4)?.height).toBeGreaterThanOrEqual(0.25 * full);
    for (const [pass, bar] of heights) expect(bar.height, `pass ${pass}`).toBeGreaterThanOrEqual(0.1 * full);
    // Still ordered as the values are.
    const ordered = [...heights.values()].map((bar) => bar.height);
    expect(ordered).toEqual([...ordered].sort((a, b) => b - a));
    expect(html).toContain('log scale');
  });

  it('draws the convergence threshold between the passes above and below it', () => {
    const threshold = /<g class="threshold" data-mib="16"><line [^>]*y1="([\d.]+)"/.exec(html);
    expect(threshold).not.toBeNull();
    const y = Number(threshold?.[1]);
    const heights = bars(html);
    // SVG y grows downwards: the 20 MiB bar's top is above the line, the 12 MiB bar's below it.
    expect(heights.get(3)?.y).toBeLessThan(y);
    expect(heights.get(4)?.y).toBeGreaterThan(y);
    expect(html).toContain('converged ≤ 16 MiB');
  });

  it('marks where the decision came, and says who took it', () => {
    expect(html).toMatch(/<g class="approval" data-after-pass="4" data-outcome="approved">/);
    const decision = /<p id="decision"[^>]*>(.*?)<\/p>/s.exec(html)?.[1] ?? '';
    expect(decision).toContain('approved');
    expect(decision).toContain('drill-operator@localhost');
    expect(decision).toContain('page');
  });

  it('says so when nobody decided', () => {
    const { decision: _, ...undecided } = REPORT;
    const page = renderDrillHtml(undecided);
    expect(page).toContain('No cutover decision was taken');
    expect(page).not.toContain('class="approval"');
  });

  it('shortens hashes to 12 hex characters, the full value in a title, so no text run is wider than 40 characters', () => {
    expect(html).toContain(`<code title="${HASH_A}">${HASH_A.slice(0, 12)}…</code>`);
    const text = html
      .replace(/<style>.*?<\/style>/s, '')
      .replace(/<title>.*?<\/title>/gs, '')
      .replace(/<[^>]+>/g, ' ');
    const widest = text.split(/\s+/).reduce((a, b) => (b.length > a.length ? b : a), '');
    expect(widest.length, widest).toBeLessThanOrEqual(40);
  });
});

/** A takeover host of `wave`, its wave's times in seconds after 03:00:00 (undefined: the run never got there). */
function takeoverHost(
  hostId: string,
  wave: number,
  [stopped, started, healthy]: [number?, number?, number?],
  checkPassed = true,
): DrillReport['hosts'][number] {
  const at = (seconds: number) => new Date(Date.parse('2026-12-03T03:00:00.000Z') + seconds * 1000).toISOString();
  return {
    hostId,
    name: hostId,
    role: 'takeover',
    state: 'stopped',
    wave,
    ...(stopped === undefined ? {} : { takeoverStoppedAt: at(stopped) }),
    ...(started === undefined ? {} : { failbackStartedAt: at(started) }),
    ...(healthy === undefined ? {} : { healthyAt: at(healthy) }),
    ...(started === undefined ? {} : { healthChecks: [{ name: 'tcp:5432', passed: checkPassed }] }),
  };
}

/** Three waves stopped last first (wave 3 at 0 s), started first first, each healthy before the next started. */
const WAVES_REPORT: DrillReport = {
  ...REPORT,
  hosts: [
    takeoverHost('i-db1', 1, [20, 95, 130]),
    takeoverHost('i-db2', 1, [20, 95, 130]),
    takeoverHost('i-app1', 2, [12, 131, 150]),
    takeoverHost('i-app2', 2, [12, 131, 150]),
    takeoverHost('i-web1', 3, [0, 151, 160]),
    // A failback host carries its wave too, and `replaces`: it is no row of its own.
    { hostId: 'i-fb1', name: 'db1-failback', role: 'failback', state: 'running', wave: 1, replaces: 'i-db1' },
    { hostId: 'i-gw', name: 'gateway', role: 'gateway', state: 'running' },
  ],
};

/** Each wave's group in the timeline: its number, host count, data times and the text under its bars. */
function waveRows(page: string) {
  return [...page.matchAll(/<g class="wave" data-wave="(\d+)" data-hosts="(\d+)"([^>]*)>(.*?)<\/g>/gs)].map((m) => ({
    wave: Number(m[1]),
    hosts: Number(m[2]),
    attributes: m[3] ?? '',
    body: m[4] ?? '',
    times: /<text class="times"[^>]*>(.*?)<\/text>/.exec(m[4] ?? '')?.[1],
  }));
}

/** The x and width of a row's bar of `kind` (down, up, unhealthy). */
function barOf(body: string, kind: string): { x: number; width: number } | undefined {
  const match = new RegExp(`<rect class="${kind}"[^>]* x="([\\d.]+)"[^>]* width="([\\d.]+)"`).exec(body);
  return match ? { x: Number(match[1]), width: Number(match[2]) } : undefined;
}

describe('the cutover timeline by wave', () => {
  const page = renderDrillHtml(WAVES_REPORT);

  it('draws one row per wave, lowest first, labelled with its number, host count and times in seconds', () => {
    expect(page).toContain('<h2>Cutover by wave</h2>');
    const rows = waveRows(page);
    expect(rows.map((row) => [row.wave, row.hosts])).toEqual([
      [1, 2],
      [2, 2],
      [3, 1],
    ]);
    expect(rows[0]?.body).toContain('>wave 1</text>');
    expect(rows[0]?.body).toContain('>2 hosts</text>');
    expect(rows[2]?.body).toContain('>1 host</text>');
    // Seconds after the first stop (wave 3's, at 03:00:00).
    expect(rows.map((row) => row.times)).toEqual([
      'stopped 20.0 s · started 95.0 s · healthy 130.0 s (+35.0 s)',
      'stopped 12.0 s · started 131.0 s · healthy 150.0 s (+19.0 s)',
      'stopped 0.0 s · started 151.0 s · healthy 160.0 s (+9.0 s)',
    ]);
    expect(rows[0]?.attributes).toBe(' data-stopped="20.000" data-started="95.000" data-healthy="130.000"');
    expect(page).toMatch(
      /aria-label="Cutover by wave, seconds after the first takeover stop: wave 1 \(2 hosts\): stopped 20\.0 s/,
    );
  });

  it('puts every wave on one axis from the first stop to the last healthy: each wave starts after the one before is healthy', () => {
    const rows = waveRows(page);
    const down = rows.map((row) => barOf(row.body, 'down'));
    const up = rows.map((row) => barOf(row.body, 'up'));
    // Wave 3 stopped first: at the axis origin; the last healthy (wave 3) at its end, 720 - 24 px.
    expect(down[2]?.x).toBe(132);
    expect((up[2]?.x ?? 0) + (up[2]?.width ?? 0)).toBeCloseTo(696, 0);
    // Waves stop last first …
    expect(down[2]?.x).toBeLessThan(down[1]?.x ?? 0);
    expect(down[1]?.x).toBeLessThan(down[0]?.x ?? 0);
    // … and each wave's failback hosts start after the wave before was healthy; its down bar ends where they start.
    for (const i of [1, 2]) {
      const before = up[i - 1];
      expect(up[i]?.x, `wave ${i + 1}`).toBeGreaterThanOrEqual((before?.x ?? 0) + (before?.width ?? 0));
      expect((down[i]?.x ?? 0) + (down[i]?.width ?? 0)).toBeCloseTo(up[i]?.x ?? 0, 0);
    }
    expect(page).not.toContain('class="unhealthy"');
  });

  it('shows what a rolled-back run has: the wave that failed its checks, and the waves never started still down', () => {
    const rolledBack = renderDrillHtml({
      ...WAVES_REPORT,
      status: 'rolled-back',
      hosts: [
        takeoverHost('i-db1', 1, [20, 95, 130]),
        takeoverHost('i-app1', 2, [12, 131, undefined], false),
        takeoverHost('i-app2', 2, [12, 131, undefined]),
        takeoverHost('i-web1', 3, [0, undefined, undefined]),
      ],
    });
    const rows = waveRows(rolledBack);
    expect(rows.map((row) => row.times)).toEqual([
      'stopped 20.0 s · started 95.0 s · healthy 130.0 s (+35.0 s)',
      'stopped 12.0 s · started 131.0 s · NOT healthy: 1 check failed',
      'stopped 0.0 s · failback hosts not started',
    ]);
    expect(barOf(rows[1]?.body ?? '', 'unhealthy')).toBeDefined();
    expect(barOf(rows[1]?.body ?? '', 'up')).toBeUndefined();
    expect(barOf(rows[2]?.body ?? '', 'up')).toBeUndefined();
    expect(rows[2]?.body).toContain('class="still-down"');
    expect(rows[2]?.attributes).toBe(' data-stopped="0.000"');
  });

  it('draws one row for a one-wave run, in hundredths of a second when the cutover took seconds', () => {
    const oneWave = renderDrillHtml({
      ...REPORT,
      hosts: [takeoverHost('i-a', 1, [0, 2.5, 2.54]), takeoverHost('i-b', 1, [0, 2.5, 2.54])],
    });
    const rows = waveRows(oneWave);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.times).toBe('stopped 0.00 s · started 2.50 s · healthy 2.54 s (+0.04 s)');
    // A 40 ms bar is still drawn wide enough to see.
    expect(barOf(rows[0]?.body ?? '', 'up')?.width).toBeGreaterThanOrEqual(4);
  });

  it('says so when no wave stopped, and draws no timeline for a run without waves', () => {
    const neverStopped = renderDrillHtml({ ...REPORT, hosts: [takeoverHost('i-a', 1, [])] });
    expect(neverStopped).toContain('No wave was cut over: the takeover hosts never stopped.');
    expect(waveRows(neverStopped)).toEqual([]);
    // REPORT's host has no wave (a report from before waves).
    expect(html).not.toContain('wave-timeline');
    expect(html).not.toContain('Cutover by wave');
  });
});

describe('the drill HTML report in Chromium (Debian /usr/bin/chromium)', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('fits a 1280 px window without scrolling sideways, with the timeline by wave too', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.setContent(renderDrillHtml(WAVES_REPORT));
    // A string, not a function: the test's tsconfig has no DOM types.
    const timeline = await page.evaluate<{ width: number; rows: number }>(
      "(() => { const svg = document.getElementById('wave-timeline'); return { width: svg.getBoundingClientRect().width, rows: svg.querySelectorAll('g.wave').length }; })()",
    );
    expect(timeline).toEqual({ width: 720, rows: 3 });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(1280);
    await page.setContent(html);
    const scrollWidth = await page.evaluate<number>('document.documentElement.scrollWidth');
    expect(scrollWidth).toBeLessThanOrEqual(1280);
    if (process.env.HOMEBOUND_REPORT_SCREENSHOT) {
      await page.screenshot({ path: process.env.HOMEBOUND_REPORT_SCREENSHOT, fullPage: true });
    }
  });
});
