import { setFlagsFromString } from 'node:v8';

/** Headroom above the heap that survived a full GC before V8 runs the next one, in percent. */
export const HEAP_GROWING_PERCENT = 100;

/**
 * Lets V8's old generation grow to twice what survived the last full GC before it collects again.
 *
 * Moving blocks allocates tens of megabytes per second of short-lived buffers (HTTP body chunks, blocks, segments)
 * on a heap where only 20–40 MB survive. After an idle spell (V8's memory reducer) or in its "slow growth" modes V8
 * grants as little as 10 % headroom above that, and a process then runs a mark-compact every ~150 ms: on the bench
 * that was a third of the engine's CPU and half of the local cloud's in one run out of two (docs/bench.md). A fixed
 * factor of 2 costs a few tens of megabytes of heap at most. The flag is read each time V8 sets a new limit, so
 * setting it at start-up takes effect from the first full GC on.
 */
export function tuneHeapForStreaming(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
