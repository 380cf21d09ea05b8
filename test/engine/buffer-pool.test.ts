import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../core/engine/buffer-pool.js';

const MiB = 1024 * 1024;

describe('BufferPool', () => {
  it('hands a released buffer out again, sized as asked', () => {
    const pool = new BufferPool(64 * MiB);
    const first = pool.acquire(8 * MiB);
    pool.release(first);

    const second = pool.acquire(7 * MiB);

    expect(second.buffer).toBe(first.buffer);
    expect(second.length).toBe(7 * MiB);
  });

  it('never pools small buffers, which may share Node’s slab, nor beyond its limit', () => {
    const pool = new BufferPool(10 * MiB);
    const small = Buffer.allocUnsafe(100);
    const big = [pool.acquire(8 * MiB), pool.acquire(8 * MiB)];
    pool.release(small);
    for (const buffer of big) pool.release(buffer);

    const again = [pool.acquire(8 * MiB), pool.acquire(8 * MiB), pool.acquire(50)];

    expect(again[0]?.buffer).toBe(big[0]?.buffer);
    expect(again[1]?.buffer).not.toBe(big[1]?.buffer);
    expect(again[2]?.buffer).not.toBe(small.buffer);
  });

  it('does not hand one buffer out twice when released twice', () => {
    const pool = new BufferPool(64 * MiB);
    const buffer = pool.acquire(2 * MiB);
    pool.release(buffer);
    pool.release(buffer);

    expect(pool.acquire(2 * MiB).buffer).not.toBe(pool.acquire(2 * MiB).buffer);
  });
});
