import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { parseStagedJson } from '../engine/manifest.js';
import { signRecord } from '../engine/run-key.js';
import { StagedObjectMissingError } from '../errors.js';
import type { Staging } from '../ports.js';

/**
 * The sync gateway's liveness: while `homebound gateway` runs it rewrites one object in staging every few seconds,
 *
 *   runs/<runId>/gateways/<instance ARN>/heartbeat.json   { format, runId, sequence, at, processStartedAt }
 *
 * (below the gateway's own instance ARN, core/gateway/scope.ts)
 *
 * so CheckApplied can tell a gateway that is slow (heartbeat fresh) from one that is gone — crashed past its
 * restarts, hung, or never booted — and fail the run fast instead of waiting out applyTimeoutSeconds. An instance
 * can stay "running" long after its gateway process gave up, so the host state alone cannot say this.
 */

export const HEARTBEAT_FORMAT = 'homebound.gateway-heartbeat/v1';
export const HEARTBEAT_KEY = 'heartbeat.json';

export const GatewayHeartbeat = z.object({
  format: z.literal(HEARTBEAT_FORMAT),
  runId: z.string(),
  /** Counts up from 1 in each gateway process; restarts begin again at 1. */
  sequence: z.number().int().positive(),
  /** ISO 8601 time of this beat, by the gateway's clock (EC2 instances keep NTP time). */
  at: z.iso.datetime(),
  /** ISO 8601 time this gateway process started: a new value means the gateway restarted. */
  processStartedAt: z.iso.datetime(),
  /** HMAC-SHA256 (hex) over the other fields with the run's gateway key (core/engine/run-key.ts). */
  mac: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});
export type GatewayHeartbeat = z.infer<typeof GatewayHeartbeat>;

export interface HeartbeatOptions {
  /** Staging at the gateway's own prefix (`runs/<runId>/gateways/<instance ARN>/`). */
  readonly staging: Staging;
  readonly runId: string;
  readonly intervalMs: number;
  /** The run's gateway key: each beat carries its MAC, so another run's gateway cannot keep this run waiting. */
  readonly ackKey?: Buffer | undefined;
  /** A failed put is reported here and retried at the next beat: one lost beat must not stop the gateway. */
  readonly onError?: (error: unknown) => void;
  /** Called after each heartbeat that reached staging. */
  readonly onBeat?: (beat: GatewayHeartbeat) => void;
  readonly now?: () => Date;
}

/**
 * Writes a heartbeat at once and then every `intervalMs` until `signal` aborts. Resolves after the last write has
 * settled, so a stopping gateway leaves no put in flight.
 */
export async function beatUntilAborted(options: HeartbeatOptions, signal: AbortSignal): Promise<void> {
  const now = options.now ?? (() => new Date());
  const processStartedAt = now().toISOString();
  for (let sequence = 1; !signal.aborted; sequence++) {
    const unsigned: GatewayHeartbeat = {
      format: HEARTBEAT_FORMAT,
      runId: options.runId,
      sequence,
      at: now().toISOString(),
      processStartedAt,
    };
    const beat = options.ackKey ? signRecord(options.ackKey, unsigned) : unsigned;
    await options.staging.put(HEARTBEAT_KEY, Buffer.from(JSON.stringify(beat))).then(
      () => options.onBeat?.(beat),
      (error: unknown) => options.onError?.(error),
    );
    await abortableSleep(options.intervalMs, signal);
  }
}

/**
 * The gateway's last heartbeat, or undefined when it has written none.
 * @throws CorruptSegmentError when the object is not a heartbeat.
 */
export async function readHeartbeat(staging: Staging): Promise<GatewayHeartbeat | undefined> {
  const body = await staging.get(HEARTBEAT_KEY).catch((error: unknown) => {
    if (error instanceof StagedObjectMissingError) return undefined;
    throw error;
  });
  return body && parseStagedJson(GatewayHeartbeat, body, HEARTBEAT_KEY);
}

/** Waits `ms`, or less when `signal` aborts; resolves either way (the callers check the signal themselves). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}
