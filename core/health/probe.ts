/** What one probe of one check found: whether it passed and, in words, why (an operator reads it in the report). */
export interface ProbeOutcome {
  readonly passed: boolean;
  readonly detail: string;
}

/** A probe's limits: it gives up after `timeoutMs`, or at once when `signal` aborts. */
export interface ProbeLimits {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
}

/** `1.5 s` from milliseconds, for details. */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** What a socket or TLS error says, with its code (`ECONNREFUSED`, `DEPTH_ZERO_SELF_SIGNED_CERT`). */
export function describeSocketError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

/**
 * Runs `attempt` with a timer and the caller's signal: whichever comes first settles the probe as failed and calls
 * `cancel` so the attempt frees its socket. `attempt` settles the probe itself through `settle`; later calls are ignored.
 */
export function withProbeLimits(
  limits: ProbeLimits,
  what: string,
  attempt: (settle: (outcome: ProbeOutcome) => void) => () => void,
): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    let cancel: () => void = () => {};
    const settle = (outcome: ProbeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      limits.signal?.removeEventListener('abort', onAbort);
      cancel();
      resolve(outcome);
    };
    const onAbort = () => settle({ passed: false, detail: `${what}: cancelled before an answer` });
    const timer = setTimeout(
      () => settle({ passed: false, detail: `${what}: no answer within ${seconds(limits.timeoutMs)}` }),
      Math.max(0, limits.timeoutMs),
    );
    if (limits.signal?.aborted) {
      onAbort();
      return;
    }
    limits.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      cancel = attempt(settle);
    } catch (error) {
      // A request node refuses before sending (e.g. an invalid header) is a failed probe, not a failed step.
      settle({ passed: false, detail: `${what}: ${describeSocketError(error)}` });
      return;
    }
    // `attempt` may have settled synchronously before `cancel` was known.
    if (settled) cancel();
  });
}
