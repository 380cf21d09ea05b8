import { z } from 'zod';

/**
 * The parts of the failback request every method shares (docs/failback-request.md). Each method's request variant
 * (core/methods/) spreads these fields next to its `method` literal and its own `target`; kept apart from
 * core/failback/request.ts, which builds the union from the registry, so a method module never imports the registry.
 */

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
 * The fields of every method's request besides `method`, `target` and `hosts` (each method's `hostList` of its own
 * target settings, core/failback/host-settings.ts).
 */
export const sharedRequestFields = {
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
  /** How long the applying side (sync gateway, on-prem agent) may take to apply one pass. @default 3600 */
  applyTimeoutSeconds: z.number().int().min(1).default(3600),
  /** The cutover's waves (docs/failback-request.md, "Waves"). */
  cutover: z
    .strictObject({
      /**
       * How long a wave's failback hosts may take, once running, to pass their health checks; past it the run rolls
       * back. @default 600
       */
      healthTimeoutSeconds: z.number().int().min(1).max(86_400).default(600),
    })
    .default({ healthTimeoutSeconds: 600 }),
  /** The applying side's liveness: how often it writes its heartbeat, and how stale one may get (docs/sync-gateway.md). */
  gateway: GatewayLiveness.default(DEFAULT_GATEWAY_LIVENESS),
} as const;
