/**
 * Adaptive request governor for GetSnapshotBlock calls against one snapshot.
 *
 * AWS enforces a fixed per-snapshot quota (1,000 req/s by default) and an adjustable per-account one shared with
 * every other reader. We do not know how much of it is ours, so the governor finds out: it starts at a guess and
 * grows quickly while nothing is throttled (slow start), then gently (additive increase).
 *
 * Throttles come in two kinds, and the governor must tell them apart:
 * - **Congestion** — a quota we exceed. The share of calls throttled follows our own rate: at a rate r above a quota
 *   Q, about 1 − Q/r of the calls are throttled, so slowing down makes the throttles stop.
 * - **Noise** — a share throttled at random (another reader hammering the account, a flaky dependency, the local
 *   cloud's `throttleRate`). It does not depend on our rate: slowing down only makes us slower. Plain AIMD, which
 *   decreases on every throttle, fell to its floor within ~10 s under 30% random throttles (issue 12).
 *
 * So every decrease is an experiment. The governor judges windows of answers (≥ a tick and ≥ MIN_SAMPLE answers).
 * When a window's throttled share rises clearly above the known noise (by more than sampling error) — and, before
 * any quota has been seen, still does in a second window (a quota's first throttles arrive as its bucket runs dry,
 * so the first window understates them) — it cuts the rate below what got through per second (a quota's rate, if it
 * is one: well below the first time, since a quota's stock of tokens can flatter that figure, just below later) and
 * remembers the pass share q1 (1 − throttled share) at the old rate. Then it judges the answers to calls sent after
 * the cut:
 * - congestion predicts the pass share rises to min(1 − noise, q1 / cut factor): the quota lets as many calls per
 *   second through as before, out of fewer sent;
 * - noise predicts it stays at q1;
 * - a share lower still is neither: a quota's bucket still draining. Cut again and judge that cut.
 * Whichever prediction the measured share is nearer wins; when the two lie within sampling error of each other
 * (a small cut of a small excess) the cut stays, as a quota needs. Congestion keeps the lower rate, climbs back
 * quickly (the first time to just under what got through, later half-way to where the throttles began; later cuts
 * take at most a third, as a window whose sends something else held back understates the quota) and goes on by
 * additive increase; each later cut is tested the same way. The noise level caps the congestion prediction only
 * half-way: one window measures it roughly, and measured low it would make noise pass for a quota.
 * Noise restores the old rate and raises the noise level, which from then on is tolerated and only decays as the
 * throttles fade. A random share therefore costs one short window at a lower rate per rise in the noise, never a
 * slide to the floor: only throttling that follows the rate takes the rate down step by step, as far as
 * `minRequestsPerSecond`. Measured figures: docs/bench.md, "Fault rehearsals".
 *
 * Two limits hold at all times: at most `maxConcurrency` calls in flight and never more than `maxRequestsPerSecond`.
 */
export interface RateGovernorOptions {
  /** Hard ceiling in requests per second. @default 1000 (the EBS per-snapshot quota) */
  readonly maxRequestsPerSecond?: number;
  /** Calls in flight at most. @default 64 */
  readonly maxConcurrency?: number;
  /** Starting rate. @default 200 */
  readonly initialRequestsPerSecond?: number;
  /** Floor the rate never drops below; reached only under throttling that follows the rate. @default 2 */
  readonly minRequestsPerSecond?: number;
  /** Time source; a test gives a fake one. @default performance.now and setTimeout */
  readonly clock?: GovernorClock;
}

/** What the governor needs of time: a monotonic clock in ms and a way to wait. */
export interface GovernorClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface GovernorStats {
  readonly requests: number;
  readonly throttled: number;
  readonly decreases: number;
  readonly currentRate: number;
  readonly peakInFlight: number;
  /** Share of answers throttled regardless of our rate, once detected; 0 otherwise. */
  readonly backgroundThrottleShare: number;
  /** Decreases undone because slowing down did not lower the throttled share. */
  readonly restores: number;
}

/** A granted permit. `sentAt` lets an answer be matched against the last decrease. */
export interface Permit {
  readonly sentAt: number;
  release(outcome: 'ok' | 'throttled' | 'error'): void;
}

const TICK_MS = 250;
const SLOW_START_FACTOR = 1.5;
/** Cut once congestion is known, when what got through does not say better. */
const DECREASE_FACTOR = 0.9;
const INCREASE_PER_TICK = 0.01;
/** The first cut goes this far below what got through (see `cut`). */
const FIRST_CUT = 0.6;
/** Growth per tick back to what got through before a cut that proved a quota. */
const RECOVERY_FACTOR = 1.25;
/** Answers a window needs before its throttled share is judged. */
const MIN_SAMPLE = 30;
/** Standard errors a share must rise above the noise before it counts as a rise. */
const Z = 3;

/**
 * Tokens a governor at `rate` may hold, so send at once on top of its rate: ~50 ms worth, at least one. Smooth
 * sending is what keeps a token-bucket quota happy; within any second a governor sends at most rate + this.
 */
export function burstTokens(rate: number): number {
  return Math.max(MIN_BURST_TOKENS, rate * BURST_SECONDS);
}
export const BURST_SECONDS = 0.05;
export const MIN_BURST_TOKENS = 1;

const realClock: GovernorClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** A cut under test: the rate and pass share before it, and when it took effect. */
interface Probe {
  readonly fromRate: number;
  readonly toRate: number;
  readonly passShare: number;
  readonly since: number;
  readonly slowStart: boolean;
  /** What got through before the cut: once the cut proves a quota, the rate climbs back here quickly. */
  readonly fits: number;
}

export class RateGovernor {
  private readonly maxRate: number;
  private readonly minRate: number;
  private readonly maxConcurrency: number;
  private readonly clock: GovernorClock;
  private rate: number;
  private slowStart = true;
  private tokens: number;
  private lastRefill: number;
  private windowStart: number;
  /** Callers waited for a rate token (not for a concurrency slot) in this window: the rate is what limits. */
  private demandInWindow = false;
  private sentInWindow = 0;
  /** Requests actually sent per second in the last few windows; below `rate` when something else limits. */
  private readonly sentRates: number[] = [];
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];
  private counters = { requests: 0, throttled: 0, decreases: 0, peakInFlight: 0, restores: 0 };
  private sample = { answers: 0, throttled: 0 };
  private probe: Probe | undefined;
  /** Set while a rise above the noise is measured again before acting on it. */
  private confirmingSince: number | undefined;
  /** Throttled share that does not follow our rate, as measured. */
  private noise = 0;
  /** Where the rate climbs back quickly after a cut that proved a quota. */
  private recoverTo: number | undefined;
  /** Set once a cut made throttles stop: from then on a rise above the noise is cut at once. */
  private congestionSeen = false;

  constructor(options: RateGovernorOptions = {}) {
    this.maxRate = options.maxRequestsPerSecond ?? 1000;
    this.minRate = Math.min(options.minRequestsPerSecond ?? 2, this.maxRate);
    this.maxConcurrency = options.maxConcurrency ?? 64;
    this.clock = options.clock ?? realClock;
    this.rate = Math.min(options.initialRequestsPerSecond ?? 200, this.maxRate);
    this.lastRefill = this.clock.now();
    this.windowStart = this.lastRefill;
    // A small pass (a few changed blocks) should not wait on the ramp: allow a short burst at the start.
    // Only headroom below the ceiling may be spent that way, so no second ever carries more than the ceiling.
    this.tokens = Math.max(1, Math.min(64, this.rate / 3, this.maxRate - this.rate));
    if (!(this.maxRate > 0) || !(this.maxConcurrency >= 1)) {
      throw new RangeError('maxRequestsPerSecond and maxConcurrency must be positive');
    }
  }

  /**
   * Waits for a concurrency slot and a rate token.
   * @throws `signal.reason` once `signal` aborts, without taking a permit.
   */
  async acquire(signal?: AbortSignal): Promise<Permit> {
    for (;;) {
      signal?.throwIfAborted();
      this.tick();
      if (this.inFlight >= this.maxConcurrency) {
        await this.waitForSlot(signal);
        continue;
      }
      this.refill();
      if (this.tokens < 1) {
        this.demandInWindow = true;
        await this.untilAborted(signal, this.clock.sleep(Math.max(1, ((1 - this.tokens) / this.rate) * 1000)));
        continue;
      }
      this.tokens -= 1;
      this.sentInWindow += 1;
      this.inFlight += 1;
      this.counters.requests += 1;
      this.counters.peakInFlight = Math.max(this.counters.peakInFlight, this.inFlight);
      const sentAt = this.clock.now();
      let released = false;
      return {
        sentAt,
        release: (outcome) => {
          if (released) return;
          released = true;
          this.inFlight -= 1;
          this.onAnswer(outcome, sentAt);
          this.waiters.shift()?.();
        },
      };
    }
  }

  /** Resolves when a permit is released, or when `signal` aborts (leaving the queue, so no wake-up is lost). */
  private waitForSlot(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = () => {
        const at = this.waiters.indexOf(wake);
        if (at >= 0) this.waiters.splice(at, 1);
        resolve();
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiters.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Resolves with `wait`, or as soon as `signal` aborts. */
  private async untilAborted(signal: AbortSignal | undefined, wait: Promise<void>): Promise<void> {
    if (!signal) return wait;
    const aborted = new AbortController();
    try {
      await Promise.race([
        wait,
        new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { signal: aborted.signal })),
      ]);
    } finally {
      aborted.abort(); // removes the listener
    }
  }

  get stats(): GovernorStats {
    return { ...this.counters, currentRate: this.rate, backgroundThrottleShare: this.noise };
  }

  private onAnswer(outcome: 'ok' | 'throttled' | 'error', sentAt: number): void {
    if (outcome === 'throttled') this.counters.throttled += 1;
    // Errors say nothing about the rate. Under test, only calls sent after the cut tell what the cut did.
    const since = this.probe?.since ?? this.confirmingSince;
    if (outcome === 'error' || (since !== undefined && sentAt < since)) return;
    this.sample.answers += 1;
    if (outcome === 'throttled') this.sample.throttled += 1;
  }

  /** Once per window: judge its answers, then grow while callers wanted more than they got. */
  private tick(): void {
    const now = this.clock.now();
    if (now - this.windowStart < TICK_MS) return;
    const sentRate = (this.sentInWindow * 1000) / (now - this.windowStart);
    // Grow only a rate we actually used: otherwise it drifts above anything the service has seen from us.
    const demand = this.demandInWindow && sentRate >= this.rate * 0.7;
    const { answers, throttled } = this.sample;
    if (answers < MIN_SAMPLE && (throttled > 0 || this.probe || this.confirmingSince !== undefined)) return; // too few to judge yet: widen the window
    this.sentRates.push(sentRate);
    if (this.sentRates.length > 4) this.sentRates.shift();
    this.windowStart = now;
    this.sentInWindow = 0;
    this.demandInWindow = false;
    this.sample = { answers: 0, throttled: 0 };
    if (answers === 0) return;
    const share = throttled / answers;

    const aboveNoise = share > this.noise + this.margin(answers);
    if (this.confirmingSince !== undefined) {
      // The rise held over a fresh window (no longer flattered by a quota's stock of tokens): test a cut.
      this.confirmingSince = undefined;
      if (aboveNoise) this.cut(share, sentRate, now);
      return;
    }
    if (this.probe) {
      this.judgeProbe(this.probe, 1 - share, answers, sentRate, now);
      return;
    }
    if (aboveNoise) {
      // Once a quota is known, cut at once (the cut is tested all the same). Before that, measure a second window
      // at this rate: the first throttles of a quota arrive as its bucket runs dry, so the window that saw them
      // understates the share, and a cut judged against it could look like it changed nothing.
      if (this.congestionSeen) this.cut(share, sentRate, now);
      else this.confirmingSince = now;
      return;
    }
    // Within the noise: let it decay as the throttles fade. It only rises through a cut that did not help.
    if (this.noise > 0 && share < this.noise) {
      this.noise = this.noise * 0.8 + share * 0.2;
      if (this.noise < 0.005) this.noise = 0;
    }
    if (demand && share <= this.noise + this.margin(answers) / 2) this.grow();
  }

  /** How far above the noise a window's share may lie by chance: Z standard errors, at least 2 points. */
  private margin(answers: number): number {
    if (this.noise === 0) return 0.02;
    return Z * Math.sqrt((this.noise * (1 - this.noise)) / answers) + 0.01;
  }

  private cut(share: number, sentRate: number, now: number): void {
    const fromRate = this.effectiveRate();
    const passShare = 1 - share;
    // If this is a quota, what got through per second is its rate (the noise, thrown out first, aside): go just
    // below it, so the window that tests the cut is free of our own throttles. Under noise the same cut leaves the
    // share unchanged, which is what tells the two apart.
    const fits = (sentRate * passShare) / Math.max(0.05, 1 - this.noise);
    // Before any quota is known, what got through can be flattered by the quota's stock of tokens (up to a second's
    // worth), so the first cut goes well below it; the climb back after the verdict is quick.
    const below = this.congestionSeen ? 0.95 : FIRST_CUT;
    // Once a quota is known, a window whose sends something else held back (the read-ahead, the end of the pass)
    // understates it: cut by at most a third then.
    const floor = this.congestionSeen ? fromRate * 0.67 : 0;
    const toRate = Math.max(this.minRate, floor, Math.min(fromRate * DECREASE_FACTOR, fits * below));
    this.recoverTo = undefined;
    this.probe = { fromRate, toRate, passShare, since: now, slowStart: this.slowStart, fits };
    this.slowStart = false;
    this.rate = toRate;
    this.tokens = Math.min(this.tokens, 0);
    this.counters.decreases += 1;
  }

  private judgeProbe(probe: Probe, passShare: number, answers: number, sentRate: number, now: number): void {
    this.probe = undefined;
    const before = probe.passShare;
    // Worse after slowing down is neither prediction: a quota's bucket still draining (its stock of one second's
    // calls hid the excess in the window that triggered the cut). Cut again from here and test that cut.
    const pooled = 1 - (before + passShare) / 2;
    if (passShare < before - Z * Math.sqrt((pooled * (1 - pooled) * 2) / answers)) {
      this.cut(1 - passShare, sentRate, now);
      return;
    }
    // Capped by the noise only half-way: one window measures the noise roughly, and a noise level measured low would
    // bring the two predictions so close that noise passes for a quota.
    const congested = Math.min(1 - this.noise / 2, before * (probe.fromRate / probe.toRate));
    // A small cut of a small excess predicts too small a change to tell from sampling error: keep the cut then, as
    // a quota needs; noise shows itself later through a larger cut.
    const telling = congested - before > 2 * Math.sqrt((Math.max(0.05, pooled * (1 - pooled)) * 2) / answers);
    if (passShare >= (before + congested) / 2 || !telling) {
      // Climb back quickly: the first time to just under what got through (the deep first cut went well below it),
      // later half-way back to where the throttles began (what got through may have been understated).
      const back = this.congestionSeen ? (probe.fromRate + probe.toRate) / 2 : probe.fits * 0.95;
      if (back > this.rate) this.recoverTo = Math.min(probe.fromRate, back);
      this.congestionSeen = true;
      return;
    }
    // The share stayed where it was: not ours. Take the rate back and tolerate this much from now on.
    this.noise = Math.min(0.95, 1 - passShare);
    this.rate = Math.min(this.maxRate, probe.fromRate);
    this.slowStart = probe.slowStart;
    this.counters.restores += 1;
    this.windowStart = now;
  }

  /** The rate we really sent at lately: `rate`, unless concurrency or callers kept us below it. */
  private effectiveRate(): number {
    const recentPeak = Math.max(0, ...this.sentRates);
    return recentPeak > 0 ? Math.min(this.rate, recentPeak) : this.rate;
  }

  private grow(): void {
    if (this.recoverTo !== undefined && this.rate < this.recoverTo) {
      this.rate = Math.min(this.maxRate, this.recoverTo, this.rate * RECOVERY_FACTOR);
      return;
    }
    this.recoverTo = undefined;
    const grown = this.slowStart ? this.rate * SLOW_START_FACTOR : this.rate * (1 + INCREASE_PER_TICK) + 0.25;
    this.rate = Math.min(this.maxRate, grown);
  }

  private refill(): void {
    const now = this.clock.now();
    const capacity = burstTokens(this.rate);
    // Tokens above capacity are the start-up burst: spend them, never top them up.
    if (this.tokens < capacity)
      this.tokens = Math.min(capacity, this.tokens + ((now - this.lastRefill) / 1000) * this.rate);
    this.lastRefill = now;
  }
}
