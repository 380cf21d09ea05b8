import { segmentBuffers } from './buffer-pool.js';
import type { SegmentRecord } from './manifest.js';
import type { SegmentSpool } from './segment-spool.js';

/**
 * The spool of a first full pass, which keeps nothing: `find` hands out each segment as the applier reaches it,
 * downloaded (a few segments ahead) and checked in full against its manifest record by `fetch`. A first full pass has
 * no earlier consistent state on the target to protect — the target is blanked before its first segment — so it need
 * not be verified whole before the first write: a segment that fails its checks stops the pass there, and a rerun
 * resumes from the last checkpoint. This saves writing the pass to the spool, reading it back and hashing it again
 * (docs/bench.md).
 */
export class StreamedSpool implements SegmentSpool {
  readonly keepsBodies = false;
  /** Bytes downloaded and handed out so far. */
  bytesFetched = 0;
  private readonly order: ReadonlyMap<string, number>;
  private readonly ahead = new Map<string, Promise<Buffer>>();
  private handedOut: Buffer | undefined;

  constructor(
    private readonly segments: readonly SegmentRecord[],
    /** Downloads a segment and checks it against its record; throws when it does not match. */
    private readonly fetch: (record: SegmentRecord) => Promise<Buffer>,
    /** Segments downloading at once. */
    private readonly aheadCount: number,
  ) {
    this.order = new Map(segments.map((segment, index) => [segment.key, index]));
  }

  /**
   * The checked body of `segmentKey`. The applier writes a segment before it asks for the next one, so the body handed
   * out before goes back to the pool here.
   * @throws what `fetch` throws (CorruptSegmentError for a segment that fails its checks).
   */
  async find(segmentKey: string, indexSha256: string): Promise<Buffer | undefined> {
    this.recycleHandedOut();
    const index = this.order.get(segmentKey);
    const record = index === undefined ? undefined : this.segments[index];
    if (index === undefined || record?.indexSha256 !== indexSha256) return undefined;
    for (let next = index; next < Math.min(this.segments.length, index + Math.max(1, this.aheadCount)); next++) {
      const upcoming = this.segments[next] as SegmentRecord;
      if (this.ahead.has(upcoming.key)) continue;
      const body = this.fetch(upcoming);
      // Awaited when its turn comes; until then a failure must not count as unhandled.
      body.catch(() => undefined);
      this.ahead.set(upcoming.key, body);
    }
    const body = this.ahead.get(segmentKey) as Promise<Buffer>;
    this.ahead.delete(segmentKey);
    this.handedOut = await body;
    this.bytesFetched += this.handedOut.length;
    return this.handedOut;
  }

  async put(segmentKey: string): Promise<void> {
    throw new Error(`a first full pass is written as it is fetched; nothing is spooled (${segmentKey})`);
  }

  /** Gives back every body still held (the pass is applied, or failed). */
  async clear(): Promise<void> {
    this.recycleHandedOut();
    const left = [...this.ahead.values()];
    this.ahead.clear();
    for (const body of await Promise.allSettled(left))
      if (body.status === 'fulfilled') segmentBuffers.release(body.value);
  }

  private recycleHandedOut(): void {
    if (this.handedOut) segmentBuffers.release(this.handedOut);
    this.handedOut = undefined;
  }
}
