import { join } from 'node:path';
import { GATEWAY_CONFIG_FORMAT, type GatewayConfig } from '../gateway/config.js';
import { abortableSleep } from '../gateway/heartbeat.js';
import { type GatewayEvent, runGateway } from '../gateway/run-gateway.js';
import { GATEWAY_VOLUMES_DIR } from '../gateway/scope.js';
import type { Staging } from '../ports.js';
import type { RunRecord } from './run-store.js';

export type FollowerEvent =
  | { readonly type: 'gateway'; readonly runId: string; readonly event: GatewayEvent }
  | { readonly type: 'following'; readonly runId: string; readonly volumes: number; readonly staging: string }
  | { readonly type: 'stopped-following'; readonly runId: string }
  | { readonly type: 'follow-failed'; readonly runId: string; readonly error: unknown; readonly retryInMs: number };

export interface RunFollowerOptions {
  /** The staging store at a key prefix. */
  readonly stagingAt: (prefix: string) => Staging;
  readonly bucket: string;
  /** Applier journals and spools go to `<stateDir>/appliers/<runId>/<volumeKey>/`. */
  readonly stateDir: string;
  readonly pollMs: number;
  /** First wait before following a failed run again; doubles up to `maxRestartDelayMs`. @default 1000 */
  readonly restartDelayMs?: number;
  /** @default 30000 */
  readonly maxRestartDelayMs?: number;
  readonly onEvent?: (event: FollowerEvent) => void;
}

/**
 * Follows runs like a sync gateway does (core/gateway/run-gateway.ts: the applier, its journal, ack.json,
 * apply-error.json and the heartbeat), one per run, writing the disk paths its platform returned. A run whose
 * following fails (its apply-error.json is in staging by then) is followed again after a growing delay, as systemd
 * restarts a failed gateway: a full target or a transient store outage heals; a corrupt segment fails the same way
 * again and the control plane has already seen it.
 */
export class RunFollower {
  private readonly runs = new Map<string, { stop: AbortController; done: Promise<void> }>();

  constructor(private readonly options: RunFollowerOptions) {}

  isFollowing(runId: string): boolean {
    return this.runs.has(runId);
  }

  /** Starts following the run unless it is already followed. */
  follow(record: RunRecord): void {
    if (this.runs.has(record.runId)) return;
    const stop = new AbortController();
    const done = this.loop(record, stop.signal);
    this.runs.set(record.runId, { stop, done });
  }

  /** Stops following the run and resolves once its disks are closed (a pass being written is finished first). */
  async stop(runId: string): Promise<void> {
    const followed = this.runs.get(runId);
    if (!followed) return;
    followed.stop.abort();
    await followed.done;
    this.runs.delete(runId);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.runs.keys()].map((runId) => this.stop(runId)));
  }

  private async loop(record: RunRecord, signal: AbortSignal): Promise<void> {
    const { options } = this;
    const config = gatewayConfigOf(record, options);
    const paths = new Map(record.disks.map((disk) => [disk.volumeId, disk.path]));
    const heartbeatStaging = record.heartbeat && options.stagingAt(record.recordsPrefix);
    const recordStaging = options.stagingAt(record.recordsPrefix + GATEWAY_VOLUMES_DIR);
    let delayMs = options.restartDelayMs ?? 1000;
    options.onEvent?.({
      type: 'following',
      runId: record.runId,
      volumes: record.disks.length,
      staging: `${options.bucket}/${record.stagingPrefix}`,
    });
    while (!signal.aborted) {
      try {
        await runGateway(config, {
          staging: options.stagingAt(record.stagingPrefix),
          recordStaging,
          ...(heartbeatStaging ? { heartbeatStaging } : {}),
          // Every path was checked by the platform's prepare, so one that is gone now is worth reporting soon.
          devicePath: (volumeId) => paths.get(volumeId) ?? `/nonexistent/${volumeId}`,
          deviceWaitMs: 60_000,
          stateDir: join(options.stateDir, 'appliers', record.runId),
          signal,
          onEvent: (event) => options.onEvent?.({ type: 'gateway', runId: record.runId, event }),
        });
      } catch (error) {
        if (signal.aborted) break;
        options.onEvent?.({ type: 'follow-failed', runId: record.runId, error, retryInMs: delayMs });
        await abortableSleep(delayMs, signal);
        delayMs = Math.min(delayMs * 2, options.maxRestartDelayMs ?? 30_000);
      }
    }
    options.onEvent?.({ type: 'stopped-following', runId: record.runId });
  }
}

function gatewayConfigOf(record: RunRecord, options: RunFollowerOptions): GatewayConfig {
  return {
    format: GATEWAY_CONFIG_FORMAT,
    runId: record.runId,
    staging: { bucket: options.bucket, prefix: record.stagingPrefix },
    volumes: record.disks.map((disk) => ({
      volumeKey: disk.volumeKey,
      volumeId: disk.volumeId,
      sizeBytes: disk.sizeBytes,
      ...(disk.holdsSnapshotId ? { holdsSnapshotId: disk.holdsSnapshotId } : {}),
    })),
    pollMs: options.pollMs,
    recordsPrefix: record.recordsPrefix,
    ...(record.ackKey ? { ackKey: record.ackKey } : {}),
    ...(record.heartbeat ? { heartbeat: record.heartbeat } : {}),
  };
}
