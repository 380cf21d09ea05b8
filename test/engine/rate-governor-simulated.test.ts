import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type GovernorClock, RateGovernor, type RateGovernorOptions } from '../../core/engine/rate-governor.js';
import { seededRandom } from '../../core/seeded-random.js';

/** Decides, at a call's arrival (ms on the fake clock), whether the simulated server throttles it. */
type Server = (arrivedAt: number, clock: SimulatedClock) => 'ok' | 'throttled';

/** Throttles a fixed share of calls at random, whatever the rate: the local cloud's `throttleRate`. */
function randomThrottles(share: number, seed: number): Server {
  const random = seededRandom(seed);
  return () => (random() < share ? 'throttled' : 'ok');
}

/** A token bucket holding one second's worth, refilled at `perSecond`: how AWS (and the local server) enforce a quota. */
function quota(perSecond: number, before: Server = () => 'ok'): Server {
  let tokens = perSecond;
  let refilledAt = 0;
  return (at, clock) => {
    if (before(at, clock) === 'throttled') return 'throttled';
    tokens = Math.min(perSecond, tokens + ((at - refilledAt) / 1000) * perSecond);
    refilledAt = at;
    if (tokens < 1) return 'throttled';
    tokens -= 1;
    return 'ok';
  };
}

/**
 * A discrete-event clock: time moves only from one pending sleep to the next, so 30 simulated seconds take well
 * under a second and every run with the same seed is the same run.
 */
class SimulatedClock implements GovernorClock {
  private time = 0;
  private readonly timers: { at: number; order: number; wake: () => void }[] = [];
  private order = 0;

  now(): number {
    return this.time;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((wake) => {
      this.timers.push({ at: this.time + ms, order: this.order++, wake });
    });
  }

  /** Fires every timer due before `until`, in order, letting the woken code run before the next. */
  async runUntil(until: number): Promise<void> {
    for (;;) {
      await nextMacrotask();
      this.timers.sort((a, b) => a.at - b.at || a.order - b.order);
      const next = this.timers[0];
      if (!next || next.at > until) break;
      this.timers.shift();
      this.time = next.at;
      next.wake();
    }
    this.time = until;
  }
}

interface Run {
  /** Calls sent per second of simulated time, by whole second. */
  readonly sentPerSecond: number[];
  readonly throttledShare: number;
  readonly governor: RateGovernor;
}

/** Drives the governor with `workers` callers for `seconds` of fake time; every call takes `roundTripMs`. */
async function simulate(
  options: RateGovernorOptions,
  server: Server,
  {
    seconds,
    workers = 16,
    roundTripMs = 20,
    jitter,
  }: { seconds: number; workers?: number; roundTripMs?: number; jitter?: () => number },
): Promise<Run> {
  const clock = new SimulatedClock();
  const governor = new RateGovernor({ ...options, clock });
  const start = clock.now();
  const stopAt = start + seconds * 1000;
  const sentPerSecond = Array.from({ length: seconds }, () => 0);
  let answers = 0;
  let throttled = 0;
  const worker = async () => {
    while (clock.now() < stopAt) {
      const permit = await governor.acquire();
      const second = Math.floor((permit.sentAt - start) / 1000);
      if (second < seconds) sentPerSecond[second] = (sentPerSecond[second] ?? 0) + 1;
      // With jitter, each leg of a round trip takes 50–150% of its half, so calls reach the server out of step.
      const leg = () => (jitter ? (roundTripMs / 2) * (0.5 + jitter()) : roundTripMs / 2);
      await clock.sleep(leg());
      const outcome = server(clock.now() - start, clock);
      await clock.sleep(leg());
      answers += 1;
      if (outcome === 'throttled') throttled += 1;
      permit.release(outcome);
    }
  };
  const done = Promise.all(Array.from({ length: workers }, worker));
  await clock.runUntil(stopAt + 10_000);
  await done;
  return { sentPerSecond, throttledShare: throttled / answers, governor };
}

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

describe('rate governor on a fake clock', () => {
  for (const seed of [1, 2, 3]) {
    it(`keeps near its ceiling when 30% of calls are throttled at random (seed ${seed})`, async () => {
      const run = await simulate({ maxRequestsPerSecond: 400 }, randomThrottles(0.3, seed), { seconds: 20 });
      // Every second after the first few, and the rate it ends at, stay near the 400/s ceiling.
      expect(Math.min(...run.sentPerSecond.slice(3))).toBeGreaterThan(300);
      expect(run.governor.stats.currentRate).toBeGreaterThan(300);
      expect(run.governor.stats.backgroundThrottleShare).toBeGreaterThan(0.2);
    });
  }

  it('recovers its pace when random throttling starts in the middle of a pass', async () => {
    const random = seededRandom(7);
    // Clean for five seconds, then 30% throttled at random.
    const server: Server = (at) => (at >= 5000 && random() < 0.3 ? 'throttled' : 'ok');
    const run = await simulate({ maxRequestsPerSecond: 400 }, server, { seconds: 20 });
    expect(mean(run.sentPerSecond.slice(10))).toBeGreaterThan(320);
  });

  it('settles near a quota it was not told about, with few throttles', async () => {
    const run = await simulate({ maxRequestsPerSecond: 1000 }, quota(100), { seconds: 30 });
    const settled = mean(run.sentPerSecond.slice(10));
    expect(settled).toBeGreaterThan(85);
    expect(settled).toBeLessThan(115);
    expect(run.throttledShare).toBeLessThan(0.1);
  });

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`finds a quota behind a slow, jittery round trip and never takes it for noise (seed ${seed})`, async () => {
      // The quota test's setting (test/quota): 100 calls/s, ~200 ms per call, 64 calls in flight.
      const run = await simulate({}, quota(100), {
        seconds: 21,
        workers: 64,
        roundTripMs: 200,
        jitter: seededRandom(seed),
      });
      const settled = mean(run.sentPerSecond.slice(3));
      expect(run.governor.stats.restores).toBe(0);
      expect(settled).toBeGreaterThan(92);
      expect(settled).toBeLessThan(112);
      expect(run.throttledShare).toBeLessThan(0.1);
    });
  }

  it('settles near a quota under 30% random throttles too', async () => {
    // The random throttles come first, so the quota's bucket sees 70% of the calls: 100/0.7 ≈ 143 calls/s fit.
    const run = await simulate({ maxRequestsPerSecond: 1000 }, quota(100, randomThrottles(0.3, 5)), { seconds: 30 });
    const settled = mean(run.sentPerSecond.slice(10));
    expect(settled).toBeGreaterThan(110);
    expect(settled).toBeLessThan(170);
  });

  it('goes below half its rate only when slowing down makes the throttles stop (a quota of 10/s)', async () => {
    const run = await simulate({ maxRequestsPerSecond: 1000 }, quota(10), { seconds: 30 });
    const settled = mean(run.sentPerSecond.slice(15));
    expect(settled).toBeGreaterThan(7);
    expect(settled).toBeLessThan(13);
  });
});
