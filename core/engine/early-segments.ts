import type { Staging } from '../ports.js';
import { segmentBuffers } from './buffer-pool.js';
import type { SegmentRecord } from './manifest.js';

/** Early segments held at once, in bytes: a small pass whole (the bench's 1 % pass is three segments), a large
 * pass's first few — the rest it fetches once sealed, as it would without early downloads. */
export const EARLY_MAX_BYTES = 32 * 1024 * 1024;

interface Early {
  readonly record: SegmentRecord;
  /** Settles with the checked body, or undefined when the download or a check failed. */
  readonly body: Promise<Buffer | undefined>;
}

/**
 * Segments an applier downloads while their pass is still streaming, told by a streamer in the same process as each
 * segment is staged — the overlap a gateway following a pass gets by listing. Each body is checked in full against
 * the record it was staged with (size, index digest, entry count, every block's SHA-256) and handed over only for a
 * manifest record naming the same segment with the same size, entry count and index digest; it is then the very
 * segment the manifest names. A failed download or check costs nothing: the applier fetches that segment again.
 */
export class EarlySegments {
  private readonly passes = new Map<number, Map<string, Early>>();
  private heldBytes = 0;

  constructor(
    private readonly staging: Staging,
    /** Checks a body against its record; throws when it does not match (the applier's own verification). */
    private readonly verify: (body: Buffer, record: SegmentRecord, key: string) => void,
  ) {}

  /** Starts downloading `record` of the pass under `prefix`, unless that would hold more than EARLY_MAX_BYTES. */
  start(passNumber: number, prefix: string, record: SegmentRecord): void {
    const pass = this.passes.get(passNumber) ?? new Map<string, Early>();
    if (pass.has(record.key) || this.heldBytes + record.bytes > EARLY_MAX_BYTES) return;
    this.passes.set(passNumber, pass);
    this.heldBytes += record.bytes;
    const key = prefix + record.key;
    const body = this.staging.get(key, { allocate: (size) => segmentBuffers.acquire(size) }).then(
      (fetched) => {
        try {
          this.verify(fetched, record, key);
          return fetched;
        } catch {
          segmentBuffers.release(fetched);
          return undefined;
        }
      },
      () => undefined,
    );
    pass.set(record.key, { record, body });
  }

  /** The early body of the segment `wanted` names, when it was downloaded and is that segment; it is the caller's
   * from then on (give it back to segmentBuffers when done). */
  async take(passNumber: number, wanted: SegmentRecord): Promise<Buffer | undefined> {
    const early = this.passes.get(passNumber)?.get(wanted.key);
    if (!early) return undefined;
    this.passes.get(passNumber)?.delete(wanted.key);
    const body = await early.body;
    this.heldBytes -= early.record.bytes;
    if (!body) return undefined;
    const { record } = early;
    if (record.indexSha256 === wanted.indexSha256 && record.bytes === wanted.bytes && record.entries === wanted.entries)
      return body;
    segmentBuffers.release(body);
    return undefined;
  }

  /** Lets go of what is left of a pass (segments its manifest did not name, or a pass that failed). */
  async drop(passNumber: number): Promise<void> {
    const pass = this.passes.get(passNumber);
    this.passes.delete(passNumber);
    for (const early of pass?.values() ?? []) {
      const body = await early.body;
      this.heldBytes -= early.record.bytes;
      if (body) segmentBuffers.release(body);
    }
  }
}
