import { z } from 'zod';
import { InvalidFailbackRequestError, MissingTargetError, UnknownMethodError } from './errors.js';

/** A gateway's heartbeat period, and how old its last heartbeat (or, before the first, its launch) may get. */
export const GatewayLiveness = z
  .strictObject({
    /** How often the gateway refreshes its heartbeat in staging. @default 15 */
    heartbeatSeconds: z.number().int().min(1).max(60).default(15),
    /** A heartbeat older than this fails the run with GatewayUnavailableError. @default 300 (5 minutes) */
    unavailableAfterSeconds: z.number().int().min(2).max(3600).default(300),
  })
  .refine((liveness) => liveness.unavailableAfterSeconds > liveness.heartbeatSeconds, {
    message: 'unavailableAfterSeconds must be longer than heartbeatSeconds',
    path: ['unavailableAfterSeconds'],
  });
export type GatewayLiveness = z.infer<typeof GatewayLiveness>;
export const DEFAULT_GATEWAY_LIVENESS: GatewayLiveness = { heartbeatSeconds: 15, unavailableAfterSeconds: 300 };

/**
 * The failback request: the document an operator starts an execution with (console, EventBridge, `homebound start`,
 * `homebound drill`). docs/failback-request.md describes every field.
 */
export const FailbackRequest = z.strictObject({
  method: z.literal('automated'),
  /** Takeover host ids to move home, e.g. ["i-0abc…"]. */
  hosts: z.array(z.string().min(1)).min(1).max(100),
  target: z.strictObject({
    platform: z.literal('aws'),
    /** The Region the failback hosts run in (the deployment's launch settings say which image, type and subnet). */
    region: z.string().min(1),
  }),
  convergence: z
    .strictObject({
      /** Converged once an incremental pass changes at most this many MiB. @default 64 */
      thresholdMiB: z.number().nonnegative().default(64),
      /** Stop iterating after this many passes (the full one included), converged or not. @default 10 */
      maxPasses: z.number().int().min(2).max(100).default(10),
    })
    .default({ thresholdMiB: 64, maxPasses: 10 }),
  approval: z
    .strictObject({
      /** How long the cutover approval waits before the run rolls back. @default 86400 (one day) */
      timeoutSeconds: z.number().int().min(1).max(31_536_000).default(86_400),
    })
    .default({ timeoutSeconds: 86_400 }),
  /** How long the gateway may take to apply one pass. @default 3600 */
  applyTimeoutSeconds: z.number().int().min(1).default(3600),
  /** The sync gateway's liveness: how often it writes its heartbeat, and how stale one may get (docs/sync-gateway.md). */
  gateway: GatewayLiveness.default(DEFAULT_GATEWAY_LIVENESS),
});
export type FailbackRequest = z.infer<typeof FailbackRequest>;

/**
 * Parses a request. The checks that decide which named error a DR engineer sees come first — method, then target —
 * then every other field, the message naming the first wrong one.
 * @throws UnknownMethodError, MissingTargetError, InvalidFailbackRequestError
 */
export function parseFailbackRequest(input: unknown): FailbackRequest {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidFailbackRequestError('the failback request must be a JSON object');
  }
  const fields = input as Record<string, unknown>;
  if (fields.method !== 'automated') throw new UnknownMethodError(String(fields.method ?? '(missing)'));
  if (fields.target === undefined || fields.target === null) throw new MissingTargetError();
  const parsed = FailbackRequest.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.length ? issue.path.join('.') : '(request)';
  throw new InvalidFailbackRequestError(`failback request field ${path}: ${issue?.message ?? 'invalid'}`);
}
