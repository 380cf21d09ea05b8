/**
 * Adaptive request governor for GetSnapshotBlock calls against one snapshot.
 *
 * AWS enforces a fixed per-snapshot quota (1,000 req/s by default) and an adjustable per-account one shared with
 * every other reader. We do not know how much of it is ours, so the governor finds out: it starts low, grows
 * quickly while nothing is throttled (slow start), and after the first throttle switches to additive increase /
 * multiplicative decrease. Only one decrease happens per round trip: a throttle answering a request that was sent
 * before the last decrease says nothing new.
 *
 * Throttling that does not follow our rate (another reader hammering the account, a flaky dependency) would drive
 * plain AIMD to a crawl. So the governor checks that slowing down helps: when halving the rate left the throttled
 * share of answers as high as before, it treats that share as background noise, restores the rate, and from then on
 * only slows down for throttling above the noise.
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
  /** Floor the rate never drops below. @default 2 */
  readonly minRequestsPerSecond?: number;
}

export interface GovernorStats {
  readonly requests: number;
  readonly throttled: number;
  readonly decreases: number;
  readonly currentRate: number;
  readonly peakInFlight: number;
  /** Share of answers throttled regardless of our rate, once detected; 0 otherwise. */
  readonly backgroundThrottleShare: number;
}

/** A granted permit. `sentAt` lets a throttle be matched against the last decrease. */
export interface Permit {
  readonly sentAt: number;
  release(outcome: 'ok' | 'throttled' | 'error'): void;
}

const TICK_MS = 250;
const SLOW_START_FACTOR = 1.5;
const DECREASE_FACTOR = 0.88;
const INCREASE_PER_TICK = 0.01;
/** Answers needed before a throttled share is trusted. */
const MIN_SAMPLE = 20;
/** Throttling this far above the background share is ours to fix. */
const NOISE_MARGIN = 0.1;

export class RateGovernor {
  private readonly maxRate: number;
  private readonly minRate: number;
  private readonly maxConcurrency: number;
  private rate: number;
  private slowStart = true;
  private tokens: number;
  private lastRefill = performance.now();
  private lastTick = performance.now();
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  /** Callers waited for a rate token (not for a concurrency slot) since the last tick: the rate is what limits. */
  private demandSinceTick = false;
  private sentSinceTick = 0;
  /** Requests actually sent per second in each of the last few ticks; below `rate` when something else limits. */
  private readonly sentRates: number[] = [];
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];
  private counters = { requests: 0, throttled: 0, decreases: 0, peakInFlight: 0 };
  /** Answers since the sample window opened. */
  private sample = { answers: 0, throttled: 0 };
  /** The throttling episode being fought: rate and share when it began. */
  private episode: { startRate: number; startShare: number | undefined; halvedAt: number | undefined } | undefined;
  private backgroundShare = 0;

  constructor(options: RateGovernorOptions = {}) {
    this.maxRate = options.maxRequestsPerSecond ?? 1000;
    this.minRate = Math.min(options.minRequestsPerSecond ?? 2, this.maxRate);
    this.maxConcurrency = options.maxConcurrency ?? 64;
    this.rate = Math.min(options.initialRequestsPerSecond ?? 200, this.maxRate);
    // A small pass (a few changed blocks) should not wait on the ramp: allow a short burst at the start.
    // Only headroom below the ceiling may be spent that way, so no second ever carries more than the ceiling.
    this.tokens = Math.max(1, Math.min(64, this.rate / 3, this.maxRate - this.rate));
    if (!(this.maxRate > 0) || !(this.maxConcurrency >= 1)) {
      throw new RangeError('maxRequestsPerSecond and maxConcurrency must be positive');
    }
  }

  /** Waits for a concurrency slot and a rate token. */
  async acquire(): Promise<Permit> {
    for (;;) {
      this.tick();
      if (this.inFlight >= this.maxConcurrency) {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        continue;
      }
      this.refill();
      if (this.tokens < 1) {
        this.demandSinceTick = true;
        await sleep(Math.max(1, ((1 - this.tokens) / this.rate) * 1000));
        continue;
      }
      this.tokens -= 1;
      this.sentSinceTick += 1;
      this.inFlight += 1;
      this.counters.requests += 1;
      this.counters.peakInFlight = Math.max(this.counters.peakInFlight, this.inFlight);
      const sentAt = performance.now();
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

  get stats(): GovernorStats {
    return { ...this.counters, currentRate: this.rate, backgroundThrottleShare: this.backgroundShare };
  }

  private onAnswer(outcome: 'ok' | 'throttled' | 'error', sentAt: number): void {
    if (outcome === 'error') return;
    this.sample.answers += 1;
    if (outcome === 'ok') return;
    this.sample.throttled += 1;
    this.counters.throttled += 1;
    // Above background noise we react at once, once per round trip; within it, the tick decides.
    if (this.backgroundShare > 0 || sentAt < this.lastDecreaseAt) return;
    this.episode ??= { startRate: this.effectiveRate(), startShare: undefined, halvedAt: undefined };
    this.decrease();
  }

  private decrease(): void {
    this.slowStart = false;
    // Cut from what was really sent: a rate we never reached (concurrency was the limit) cannot be the problem.
    this.rate = Math.max(this.minRate, this.effectiveRate() * DECREASE_FACTOR);
    this.tokens = Math.min(this.tokens, 0);
    this.lastDecreaseAt = performance.now();
    this.counters.decreases += 1;
  }

  /** The rate we really sent at lately: `rate`, unless concurrency or callers kept us below it. */
  private effectiveRate(): number {
    const recentPeak = Math.max(0, ...this.sentRates);
    return recentPeak > 0 ? Math.min(this.rate, recentPeak) : this.rate;
  }

  /** Once per tick: judge the last sample, then grow while callers wanted more than they got. */
  private tick(): void {
    const now = performance.now();
    if (now - this.lastTick < TICK_MS) return;
    const sentRate = (this.sentSinceTick * 1000) / (now - this.lastTick);
    this.sentRates.push(sentRate);
    if (this.sentRates.length > 4) this.sentRates.shift();
    this.sentSinceTick = 0;
    this.lastTick = now;
    // Grow only a rate we actually used: otherwise it drifts above anything the service has seen from us.
    const demand = this.demandSinceTick && sentRate >= this.rate * 0.7;
    this.demandSinceTick = false;
    if (this.sample.answers < MIN_SAMPLE && this.sample.throttled === 0) {
      if (demand && this.sample.answers > 0) this.grow();
      return;
    }
    if (this.sample.answers < MIN_SAMPLE) return;
    const share = this.sample.throttled / this.sample.answers;
    this.sample = { answers: 0, throttled: 0 };

    if (this.backgroundShare > 0) {
      this.judgeAgainstBackground(share, demand);
      return;
    }
    if (share === 0) {
      this.episode = undefined;
      if (demand) this.grow();
      return;
    }
    if (!this.episode) return;
    this.episode.startShare ??= share;
    if (this.effectiveRate() > this.episode.startRate / 2) return;
    this.episode.halvedAt ??= now;
    // A full second at half the rate (a quota's window has drained by then) did not lower the throttled share:
    // the throttling is not ours. Take the rate back.
    if (now - this.episode.halvedAt >= 1000 && share >= this.episode.startShare * 0.8) {
      this.backgroundShare = share;
      this.rate = Math.min(this.maxRate, this.episode.startRate);
      this.episode = undefined;
    }
  }

  private judgeAgainstBackground(share: number, demand: boolean): void {
    if (share > this.backgroundShare + NOISE_MARGIN) {
      this.decrease();
    } else if (demand && share <= this.backgroundShare + NOISE_MARGIN / 2) {
      this.grow();
    }
    // Follow the noise as it changes; when it stops, plain AIMD takes over again.
    this.backgroundShare = this.backgroundShare * 0.8 + share * 0.2;
    if (this.backgroundShare < 0.01) this.backgroundShare = 0;
  }

  private grow(): void {
    const grown = this.slowStart ? this.rate * SLOW_START_FACTOR : this.rate * (1 + INCREASE_PER_TICK) + 0.25;
    this.rate = Math.min(this.maxRate, grown);
  }

  private refill(): void {
    const now = performance.now();
    // A burst of at most ~50 ms worth of tokens: smooth sending is what keeps a token-bucket quota happy.
    const capacity = Math.max(1, this.rate * 0.05);
    // Tokens above capacity are the start-up burst: spend them, never top them up.
    if (this.tokens < capacity)
      this.tokens = Math.min(capacity, this.tokens + ((now - this.lastRefill) / 1000) * this.rate);
    this.lastRefill = now;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
