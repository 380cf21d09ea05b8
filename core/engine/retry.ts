import { HomeboundError } from '../errors.js';

export interface RetryPolicy {
  /** Attempts for errors AWS says to retry (5xx, "Failed to read block data", checksum mismatch). @default 8 */
  readonly maxAttempts?: number;
  /** Throttled answers tolerated for one call before giving up. @default 100 */
  readonly maxThrottles?: number;
  /** First backoff; doubles per attempt with full jitter. @default 100 */
  readonly baseDelayMs?: number;
  /** @default 5000 */
  readonly maxDelayMs?: number;
}

/**
 * Calls `operation` until it succeeds, retrying only what the error says is retryable: throttles (with backoff, up
 * to `maxThrottles`) and transient failures (up to `maxAttempts`). For calls outside the rate governor, such as the
 * planner's List calls; block reads pace themselves through the governor instead.
 */
export async function withRetries<T>(
  operation: () => Promise<T>,
  policy: RetryPolicy = {},
  onRetry?: (error: HomeboundError) => void,
): Promise<T> {
  let attempts = 0;
  let throttles = 0;
  for (;;) {
    try {
      return await operation();
    } catch (error) {
      if (!(error instanceof HomeboundError) || !error.retryable) throw error;
      if (error.throttled ? ++throttles > (policy.maxThrottles ?? 100) : ++attempts >= (policy.maxAttempts ?? 8))
        throw error;
      onRetry?.(error);
      await backoff(error.throttled ? Math.min(throttles, 6) : attempts, policy);
    }
  }
}

/** Full-jitter exponential backoff: a random wait in [0, min(max, base × 2^(attempt−1))). */
export function backoff(attempt: number, policy: RetryPolicy = {}): Promise<void> {
  const cap = Math.min(policy.maxDelayMs ?? 5000, (policy.baseDelayMs ?? 100) * 2 ** (attempt - 1));
  return new Promise((resolve) => setTimeout(resolve, Math.random() * cap));
}
