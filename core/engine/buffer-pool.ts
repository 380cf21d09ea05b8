/**
 * Large buffers recycled instead of reallocated. A segment's buffer lives for the whole round trip through staging,
 * long enough for V8 to promote it; a fresh one per segment makes the heap grow by megabytes of external memory per
 * segment and triggers a full mark-compact every few segments. Buffers go back only once nothing uses them.
 */
const MIN_POOLED_BYTES = 1024 * 1024;

export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  private pooledBytes = 0;

  constructor(private readonly maxPooledBytes: number) {}

  /** A buffer of exactly `size` bytes (contents undefined), from the pool when one fits. */
  acquire(size: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const candidate = this.free[i] as ArrayBuffer;
      if (candidate.byteLength >= size && candidate.byteLength <= size * 2) {
        if (best < 0 || candidate.byteLength < (this.free[best] as ArrayBuffer).byteLength) best = i;
      }
    }
    if (best < 0) return Buffer.allocUnsafeSlow(size);
    const [buffer] = this.free.splice(best, 1) as [ArrayBuffer];
    this.pooledBytes -= buffer.byteLength;
    return Buffer.from(buffer, 0, size);
  }

  /** Gives a buffer from `acquire` back; only once no read, write or upload can still touch it. Small buffers (which
   * may share Node's allocation slab) and anything beyond the pool's limit are left to the garbage collector. */
  release(buffer: Buffer): void {
    const whole = buffer.buffer;
    if (!(whole instanceof ArrayBuffer) || whole.byteLength < MIN_POOLED_BYTES) return;
    if (this.pooledBytes + whole.byteLength > this.maxPooledBytes || this.free.includes(whole)) return;
    this.free.push(whole);
    this.pooledBytes += whole.byteLength;
  }
}

/**
 * Segment-sized buffers shared by the streamer and the applier of this process. Its limit is below what a pass
 * already holds at its peak (the read-ahead window, uploads in flight, a pass spooled in memory), so recycling never
 * raises peak memory.
 */
export const segmentBuffers = new BufferPool(64 * 1024 * 1024);
