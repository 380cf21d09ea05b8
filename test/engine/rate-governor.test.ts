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

// Quotas and random throttles: rate-governor-simulated.test.ts, on a simulated clock.
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

  it('holds at most maxConcurrency permits at once', async () => {
    const governor = new RateGovernor({ maxConcurrency: 4, initialRequestsPerSecond: 1000 });
    await drive(governor, 200, () => 'ok');
    expect(governor.stats.peakInFlight).toBe(4);
  });
});
