import { BLOCK_SIZE, sha256, zeroBlock } from '../blocks.js';
import { BlockChecksumMismatchError, HomeboundError, RequestRejectedError, WorkCancelledError } from '../errors.js';
import type { BlockRef, BlockSource } from '../ports.js';
import type { RateGovernor } from './rate-governor.js';
import { backoff, type RetryPolicy } from './retry.js';

export type { RetryPolicy } from './retry.js';

/** Counters a pass reports; shared by every reader of the pass. */
export interface ReadCounters {
  blocksRead: number;
  bytesRead: number;
  throttled: number;
  retried: number;
  checksumMismatches: number;
}

export function newReadCounters(): ReadCounters {
  return { blocksRead: 0, bytesRead: 0, throttled: 0, retried: 0, checksumMismatches: 0 };
}

export interface VerifiedBlock {
  readonly blockIndex: number;
  readonly data: Buffer;
  readonly sha256: Buffer;
}

/**
 * Reads one block through the governor and returns it only once its bytes hash to the checksum the service sent.
 * A ref without a token (the newer snapshot lacks the block) reads as zeros, as EBS defines. `into` (BLOCK_SIZE
 * bytes) is handed to the source to read the block into. Once `signal` aborts, no new call starts and the one in
 * flight is cut.
 * @throws the last error once retries are exhausted, or at once for errors that retrying cannot fix;
 *   WorkCancelledError once `signal` aborts.
 */
export async function readVerifiedBlock(
  source: BlockSource,
  governor: RateGovernor,
  snapshotId: string,
  ref: BlockRef,
  counters: ReadCounters,
  policy: RetryPolicy = {},
  into?: Buffer,
  signal?: AbortSignal,
): Promise<VerifiedBlock> {
  if (ref.token === undefined) return { blockIndex: ref.index, data: zeroBlock(), sha256: sha256(zeroBlock()) };
  const maxAttempts = policy.maxAttempts ?? 8;
  const maxThrottles = policy.maxThrottles ?? 100;
  let attempts = 0;
  let throttles = 0;
  for (;;) {
    const permit = await governor.acquire(signal).catch((error: unknown) => {
      throw signal?.aborted ? cancelled(snapshotId, signal) : error;
    });
    try {
      if (signal?.aborted) throw cancelled(snapshotId, signal);
      const block = await source.getSnapshotBlock(snapshotId, ref.index, ref.token, into, signal);
      permit.release('ok');
      counters.bytesRead += block.data.length;
      if (block.dataLength !== BLOCK_SIZE || block.data.length !== BLOCK_SIZE) {
        throw new RequestRejectedError(`block ${ref.index} of ${snapshotId} arrived with ${block.data.length} bytes`);
      }
      const digest = sha256(block.data);
      if (digest.toString('base64') !== block.checksum) {
        counters.checksumMismatches += 1;
        throw new BlockChecksumMismatchError(snapshotId, ref.index);
      }
      counters.blocksRead += 1;
      return { blockIndex: ref.index, data: block.data, sha256: digest };
    } catch (caught) {
      // An aborted call fails as a dropped connection would; it must not be retried.
      const error = signal?.aborted ? cancelled(snapshotId, signal) : caught;
      const throttled = error instanceof HomeboundError && error.throttled;
      permit.release(throttled ? 'throttled' : 'error');
      if (!(error instanceof HomeboundError) || !error.retryable) throw error;
      if (throttled) {
        counters.throttled += 1;
        if (++throttles > maxThrottles) throw error;
        continue;
      }
      if (++attempts >= maxAttempts) throw error;
      counters.retried += 1;
      await backoff(attempts, policy);
    }
  }
}

function cancelled(snapshotId: string, signal: AbortSignal): WorkCancelledError {
  return new WorkCancelledError(`reading ${snapshotId}`, signal.reason);
}
