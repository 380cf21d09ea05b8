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

  it('fits a 1280 px window without scrolling sideways', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.setContent(html);
    // A string, not a function: the test's tsconfig has no DOM types.
    const scrollWidth = await page.evaluate<number>('document.documentElement.scrollWidth');
    expect(scrollWidth).toBeLessThanOrEqual(1280);
    if (process.env.HOMEBOUND_REPORT_SCREENSHOT) {
      await page.screenshot({ path: process.env.HOMEBOUND_REPORT_SCREENSHOT, fullPage: true });
    }
  });
});
