/**
 * Fault and realism knobs of the local EBS server, decided with a seeded PRNG so a test run is repeatable
 * (as far as the order of concurrent arrivals allows).
 */

import { seededRandom } from '../seeded-random.js';

/** Faults the local EBS server injects. Every field can be changed at runtime with `EbsServer.setFaults`. */
export interface EbsFaults {
  /** Delay added to every response, in ms. @default 0 */
  readonly latencyMs?: number;
  /**
   * GetSnapshotBlock + PutSnapshotBlock requests per second per snapshot, counted at arrival (token bucket holding
   * one second's worth); the excess is answered with RequestThrottledException RESOURCE_LEVEL_THROTTLE.
   * AWS's fixed quota is 1,000. @default unlimited
   */
  readonly quotaPerSnapshot?: number | undefined;
  /** Share (0..1) of block calls answered with RequestThrottledException at random. @default 0 */
  readonly throttleRate?: number;
  /** Share (0..1) of all calls answered with 500 InternalServerException at random. @default 0 */
  readonly errorRate?: number;
  /** The next N GetSnapshotBlock responses carry corrupted bytes under the correct checksum header. @default 0 */
  readonly corruptBlocks?: number;
  /** List pages randomly shorter than asked, sometimes empty with a NextToken. @default false */
  readonly shortPages?: boolean;
}

interface Bucket {
  tokens: number;
  refilledAt: number;
}

/** Applies EbsFaults: the server asks it at arrival and while answering. */
export class FaultInjector {
  private settings: EbsFaults = {};
  private corruptionsLeft = 0;
  private readonly buckets = new Map<string, Bucket>();
  private readonly random: () => number;

  constructor(
    faults: EbsFaults = {},
    seed = 1,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.random = seededRandom(seed);
    this.set(faults);
  }

  /** Changes the given knobs, keeping the others. `corruptBlocks` restarts the countdown. Throws RangeError. */
  set(faults: EbsFaults): void {
    for (const key of ['throttleRate', 'errorRate'] as const) {
      const rate = faults[key];
      if (rate !== undefined && !(rate >= 0 && rate <= 1)) throw new RangeError(`${key} must be within 0..1`);
    }
    if ('quotaPerSnapshot' in faults) this.buckets.clear();
    if (faults.corruptBlocks !== undefined) this.corruptionsLeft = Math.max(0, Math.floor(faults.corruptBlocks));
    this.settings = { ...this.settings, ...faults };
  }

  /** The knobs in force; `corruptBlocks` is how many corruptions remain. */
  get current(): EbsFaults {
    return { ...this.settings, corruptBlocks: this.corruptionsLeft };
  }

  get latencyMs(): number {
    return Math.max(0, this.settings.latencyMs ?? 0);
  }

  /** Whether this call (any operation) is answered with InternalServerException. */
  failsAtArrival(): boolean {
    return (this.settings.errorRate ?? 0) > 0 && this.random() < (this.settings.errorRate ?? 0);
  }

  /** Whether this block call on `snapshotId` is throttled; takes a token from the snapshot's bucket when not. */
  throttlesAtArrival(snapshotId: string): boolean {
    if ((this.settings.throttleRate ?? 0) > 0 && this.random() < (this.settings.throttleRate ?? 0)) return true;
    const quota = this.settings.quotaPerSnapshot;
    if (quota === undefined || quota <= 0) return false;
    const now = this.now();
    const bucket = this.buckets.get(snapshotId) ?? { tokens: quota, refilledAt: now };
    bucket.tokens = Math.min(quota, bucket.tokens + ((now - bucket.refilledAt) / 1000) * quota);
    bucket.refilledAt = now;
    this.buckets.set(snapshotId, bucket);
    if (bucket.tokens < 1) return true;
    bucket.tokens -= 1;
    return false;
  }

  /** Whether the GetSnapshotBlock being answered gets a corrupted body (counts the corruption down). */
  takesCorruption(): boolean {
    if (this.corruptionsLeft <= 0) return false;
    this.corruptionsLeft -= 1;
    return true;
  }

  /** A copy of `data` with a few bytes flipped at random positions. */
  corrupt(data: Buffer): Buffer {
    const copy = Buffer.from(data);
    for (let i = 0; i < 4; i++) {
      const at = Math.floor(this.random() * copy.length);
      copy[at] = (copy[at] ?? 0) ^ 0xff;
    }
    return copy;
  }

  /** Entries to put in a list page when `maxResults` were asked: fewer, sometimes none, under shortPages. */
  pageLength(maxResults: number): number {
    if (!this.settings.shortPages) return maxResults;
    if (this.random() < 0.2) return 0;
    // Skewed towards short pages, so even a snapshot of a few blocks takes several.
    return 1 + Math.floor(this.random() ** 3 * maxResults);
  }
}
