import { describe, expect, it } from 'vitest';
import { RateGovernor } from '../../core/engine/rate-governor.js';

async function drive(governor: RateGovernor, millis: number, outcome: (sentAt: number) => 'ok' | 'throttled') {
  const sent: number[] = [];
  const stopAt = performance.now() + millis;
  const worker = async () => {
    while (performance.now() < stopAt) {
      const permit = await governor.acquire();
      sent.push(permit.sentAt);
      setTimeout(() => permit.release(outcome(permit.sentAt)), 5);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return sent;
}

describe('rate governor', () => {
  it('never sends more than the configured ceiling, even with nothing throttled', async () => {
    const governor = new RateGovernor({ maxRequestsPerSecond: 50, initialRequestsPerSecond: 50 });
    const sent = await drive(governor, 1500, () => 'ok');
    // Any 1-second window holds at most the ceiling plus the small smoothing burst.
    const worst = Math.max(...sent.map((t) => sent.filter((s) => s >= t && s < t + 1000).length));
    expect(worst).toBeLessThanOrEqual(53);
  });

  it('grows from its starting rate while nothing is throttled', async () => {
    const governor = new RateGovernor({ initialRequestsPerSecond: 20, maxRequestsPerSecond: 1000 });
    await drive(governor, 1200, () => 'ok');
    expect(governor.stats.currentRate).toBeGreaterThan(60);
  });

  it('settles just under a quota it was not told about, with few throttles', async () => {
    const governor = new RateGovernor({ initialRequestsPerSecond: 40, maxRequestsPerSecond: 1000 });
    // A token bucket of 100 requests refilled at 100/s, as AWS (and the local EBS server) enforce a quota.
    let tokens = 100;
    let refilledAt = performance.now();
    const quota = (sentAt: number) => {
      tokens = Math.min(100, tokens + ((sentAt - refilledAt) / 1000) * 100);
      refilledAt = sentAt;
      if (tokens < 1) return 'throttled';
      tokens -= 1;
      return 'ok';
    };
    await drive(governor, 3000, quota);
    const { currentRate, throttled, requests, decreases } = governor.stats;
    expect(decreases).toBeGreaterThan(0);
    expect(currentRate).toBeGreaterThan(70);
    expect(currentRate).toBeLessThan(130);
    expect(throttled / requests).toBeLessThan(0.1);
  });

  it('keeps its pace when a share of calls is throttled whatever the rate (background noise)', async () => {
    const governor = new RateGovernor({ initialRequestsPerSecond: 100, maxRequestsPerSecond: 1000 });
    let n = 0;
    await drive(governor, 4000, () => (++n % 10 < 3 ? 'throttled' : 'ok'));
    const { currentRate, backgroundThrottleShare } = governor.stats;
    expect(backgroundThrottleShare).toBeGreaterThan(0.2);
    expect(currentRate).toBeGreaterThan(50);
  });

  it('holds at most maxConcurrency permits at once', async () => {
    const governor = new RateGovernor({ maxConcurrency: 4, initialRequestsPerSecond: 1000 });
    await drive(governor, 200, () => 'ok');
    expect(governor.stats.peakInFlight).toBe(4);
  });
});
