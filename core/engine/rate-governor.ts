/**
 * Adaptive request governor for GetSnapshotBlock calls against one snapshot.
 *
 * AWS enforces a fixed per-snapshot quota (1,000 req/s by default) and an adjustable per-account one shared with
 * every other reader. We do not know how much of it is ours, so the governor finds out: it starts low, grows
 * quickly while nothing is throttled (slow start), and after the first throttle switches to additive increase /
 * multiplicative decrease. Only one decrease happens per round trip: a throttle answering a request that was sent
 * before the last decrease says nothing new. Two limits hold at all times: at most `maxConcurrency` calls in
 * flight and never more than `maxRequestsPerSecond`.
 */
export interface RateGovernorOptions {
  /** Hard ceiling in requests per second. @default 1000 (the EBS per-snapshot quota) */
  readonly maxRequestsPerSecond?: number;
  /** Calls in flight at most. @default 64 */
  readonly maxConcurrency?: number;
  /** Starting rate. @default 40 */
  readonly initialRequestsPerSecond?: number;
  /** Floor the rate never drops below. @default 2 */
  readonly minRequestsPerSecond?: number;
  /** Clock, for tests. @default performance.now */
  readonly now?: () => number;
}

export interface GovernorStats {
  readonly requests: number;
  readonly throttled: number;
  readonly decreases: number;
  readonly currentRate: number;
  readonly peakInFlight: number;
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

export class RateGovernor {
  private readonly maxRate: number;
  private readonly minRate: number;
  private readonly maxConcurrency: number;
  private readonly now: () => number;
  private rate: number;
  private slowStart = true;
  private tokens = 1;
  private lastRefill: number;
  private lastTick: number;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  private throttledSinceTick = false;
  private demandSinceTick = false;
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];
  private counters = { requests: 0, throttled: 0, decreases: 0, peakInFlight: 0 };

  constructor(options: RateGovernorOptions = {}) {
    this.maxRate = options.maxRequestsPerSecond ?? 1000;
    this.minRate = Math.min(options.minRequestsPerSecond ?? 2, this.maxRate);
    this.maxConcurrency = options.maxConcurrency ?? 64;
    this.rate = Math.min(options.initialRequestsPerSecond ?? 40, this.maxRate);
    this.now = options.now ?? (() => performance.now());
    this.lastRefill = this.now();
    this.lastTick = this.lastRefill;
    if (!(this.maxRate > 0) || !(this.maxConcurrency >= 1)) {
      throw new RangeError('maxRequestsPerSecond and maxConcurrency must be positive');
    }
  }

  /** Waits for a concurrency slot and a rate token. */
  async acquire(): Promise<Permit> {
    for (;;) {
      this.adjust();
      if (this.inFlight < this.maxConcurrency) {
        this.refill();
        if (this.tokens >= 1) {
          this.tokens -= 1;
          this.inFlight += 1;
          this.counters.requests += 1;
          this.counters.peakInFlight = Math.max(this.counters.peakInFlight, this.inFlight);
          const sentAt = this.now();
          let released = false;
          return {
            sentAt,
            release: (outcome) => {
              if (released) return;
              released = true;
              this.inFlight -= 1;
              if (outcome === 'throttled') this.onThrottle(sentAt);
              this.wakeOne();
            },
          };
        }
        this.demandSinceTick = true;
        await this.sleep(Math.max(1, ((1 - this.tokens) / this.rate) * 1000));
      } else {
        this.demandSinceTick = true;
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    }
  }

  get stats(): GovernorStats {
    return { ...this.counters, currentRate: this.rate };
  }

  private onThrottle(sentAt: number): void {
    this.counters.throttled += 1;
    this.throttledSinceTick = true;
    if (sentAt < this.lastDecreaseAt) return;
    this.slowStart = false;
    this.rate = Math.max(this.minRate, this.rate * DECREASE_FACTOR);
    this.tokens = Math.min(this.tokens, 0);
    this.lastDecreaseAt = this.now();
    this.counters.decreases += 1;
  }

  /** Grows the rate once per tick while callers wanted more than they got and nothing was throttled. */
  private adjust(): void {
    const now = this.now();
    if (now - this.lastTick < TICK_MS) return;
    if (!this.throttledSinceTick && this.demandSinceTick) {
      const grown = this.slowStart ? this.rate * SLOW_START_FACTOR : this.rate * (1 + INCREASE_PER_TICK) + 0.25;
      this.rate = Math.min(this.maxRate, grown);
    }
    this.throttledSinceTick = false;
    this.demandSinceTick = false;
    this.lastTick = now;
  }

  private refill(): void {
    const now = this.now();
    // A burst of at most ~50 ms worth of tokens: smooth sending is what keeps a token-bucket quota happy.
    const capacity = Math.max(1, this.rate * 0.05);
    this.tokens = Math.min(capacity, this.tokens + ((now - this.lastRefill) / 1000) * this.rate);
    this.lastRefill = now;
  }

  private wakeOne(): void {
    this.waiters.shift()?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}
