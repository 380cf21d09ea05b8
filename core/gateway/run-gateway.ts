import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { openFileTarget } from '../adapters/target/file-target.js';
import { Applier, type ApplyReport } from '../engine/applier.js';
import { readJournal } from '../engine/journal.js';
import { signRecord } from '../engine/run-key.js';
import { hashSeed, publishSeed, seedBaseId } from '../engine/seed.js';
import type { BlockTarget, Staging } from '../ports.js';
import { applyErrorKey, applyErrorRecord } from './apply-error.js';
import type { GatewayConfig } from './config.js';
import { GatewayDeviceMissingError } from './errors.js';
import { abortableSleep, beatUntilAborted, HEARTBEAT_KEY } from './heartbeat.js';
import { seedRecordKey } from './scope.js';

// Readers of the gateway's failure records (the control plane) may import them from here or from apply-error.ts,
// which does not pull in the applier.
export { APPLY_ERROR_FORMAT, ApplyErrorRecord, applyErrorKey, readApplyError } from './apply-error.js';

/** How often to look for a device that has not appeared yet. */
const DEVICE_POLL_MS = 250;

/**
 * Where an attached EBS volume appears on a Nitro instance: the NVMe by-id link whose serial is the volume id
 * without its dash (`vol-0abc…` → `…_vol0abc…`), stable whatever device name the attachment asked for.
 */
export function awsNvmeDevicePath(volumeId: string): string {
  return `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace('-', '')}`;
}

export type GatewayEvent =
  | { readonly type: 'waiting-for-device'; readonly volumeKey: string; readonly path: string }
  | {
      readonly type: 'device-ready';
      readonly volumeKey: string;
      readonly path: string;
      readonly lastAppliedPass: number;
    }
  | { readonly type: 'applied'; readonly volumeKey: string; readonly report: ApplyReport }
  | { readonly type: 'hashing-seed'; readonly volumeKey: string; readonly path: string; readonly seed: string }
  | { readonly type: 'seed-published'; readonly volumeKey: string; readonly recordKey: string; readonly blocks: number }
  | { readonly type: 'heartbeat-started'; readonly where: string; readonly intervalSeconds: number }
  | { readonly type: 'heartbeat-failed'; readonly error: unknown }
  | {
      readonly type: 'apply-failed';
      readonly volumeKey: string;
      readonly passNumber: number;
      readonly error: unknown;
      /** The apply-error record could not be written either (the original error is still thrown). */
      readonly recordError?: unknown;
    };

export interface RunGatewayOptions {
  /** Staging already built for the config's bucket + prefix. */
  readonly staging: Staging;
  /** Where the volume's block device (or local image) appears once attached. */
  readonly devicePath: (volumeId: string) => string;
  /** Each volume's applier journal and spool live in `<stateDir>/<volumeKey>`; must survive restarts. */
  readonly stateDir: string;
  /** Aborting stops the gateway cleanly (between polls, or after the pass being written). */
  readonly signal: AbortSignal;
  /**
   * Staging at this gateway's own volumes prefix (`runs/<runId>/gateways/<instance ARN>/volumes/`,
   * core/gateway/scope.ts): its acks and apply errors go there, the only place its role may write. @default staging
   */
  readonly recordStaging?: Staging;
  /** Staging at this gateway's own prefix (`…/gateways/<instance ARN>/`); it writes its heartbeat there while it runs. */
  readonly heartbeatStaging?: Staging;
  /** How long a volume's device may take to appear. @default 600000 (10 min) */
  readonly deviceWaitMs?: number;
  readonly onEvent?: (event: GatewayEvent) => void;
}

/**
 * The sync gateway: for every volume of the config at once, waits for its device, then applies each next pass as it
 * is staged (the applier acks each once durable), until `signal` aborts; meanwhile it writes its heartbeat when the
 * config asks for one and `heartbeatStaging` is given. Acks and apply errors go to `recordStaging`. A pass that fails
 * to apply is reported there as `<volumeKey>/pass-NNNNNN/apply-error.json` before the error is rethrown; the other volumes then stop too.
 * Resolves on abort; rejects with the first failure: GatewayDeviceMissingError, what Applier.open / followPass throw
 * (CorruptSegmentError, PassOutOfOrderError, TargetTooSmallError, …), TargetUnavailableError.
 */
export async function runGateway(config: GatewayConfig, options: RunGatewayOptions): Promise<void> {
  // One volume failing stops the others, so the process exits (and restarts) as a whole.
  const stopAll = new AbortController();
  const onAbort = () => stopAll.abort(options.signal.reason);
  options.signal.addEventListener('abort', onAbort, { once: true });
  if (options.signal.aborted) onAbort();
  // The heartbeat outlives neither the gateway's work nor a failure of it: the process is about to exit then.
  const stopBeating = new AbortController();
  const beating = startHeartbeat(config, options, stopBeating.signal);
  try {
    const results = await Promise.allSettled(
      config.volumes.map((volume) =>
        followVolume(config, volume, { ...options, signal: stopAll.signal }).catch((error: unknown) => {
          stopAll.abort(error);
          throw error;
        }),
      ),
    );
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    stopBeating.abort();
    await beating;
  }
}

async function followVolume(
  config: GatewayConfig,
  volume: GatewayConfig['volumes'][number],
  options: RunGatewayOptions,
): Promise<void> {
  const { pollMs } = config;
  const { signal, staging } = options;
  const records = options.recordStaging ?? staging;
  const ackKey = runKeyOf(config);
  const path = options.devicePath(volume.volumeId);
  if (!(await waitForDevice(volume, path, options))) return;
  const target: BlockTarget = await openFileTarget(path);
  try {
    const stateDir = join(options.stateDir, volume.volumeKey);
    const seedBase = await publishSeedOnce(volume, path, stateDir, records, ackKey, options);
    const applier = await Applier.open({
      staging,
      volumeKey: volume.volumeKey,
      target,
      stateDir,
      ackKey,
      ackStaging: records,
      holdsSnapshotId: seedBase ?? volume.holdsSnapshotId,
    });
    options.onEvent?.({
      type: 'device-ready',
      volumeKey: volume.volumeKey,
      path,
      lastAppliedPass: applier.lastAppliedPass,
    });
    while (!signal.aborted) {
      const passNumber = applier.lastAppliedPass + 1;
      let report: ApplyReport;
      try {
        report = await applier.followPass(passNumber, { pollMs, signal });
      } catch (error) {
        if (signal.aborted) return;
        const unsigned = applyErrorRecord(volume.volumeKey, passNumber, error);
        const record = ackKey ? signRecord(ackKey, unsigned) : unsigned;
        const recordError = await records
          .put(applyErrorKey(volume.volumeKey, passNumber), Buffer.from(JSON.stringify(record)))
          .then(() => undefined)
          .catch((putError: unknown) => putError);
        options.onEvent?.({
          type: 'apply-failed',
          volumeKey: volume.volumeKey,
          passNumber,
          error,
          ...(recordError ? { recordError } : {}),
        });
        throw error;
      }
      options.onEvent?.({ type: 'applied', volumeKey: volume.volumeKey, report });
    }
  } finally {
    await target.close();
  }
}

/**
 * For a seeded target with no journal yet: hashes the device (the seed, untouched so far) and publishes the hashes as
 * `<volumeKey>/seed.json` in the gateway's records (its own scope), signed with the run key; returns the seed's base
 * id, where the new journal starts. With a journal (a restarted gateway) it never hashes again: passes may already
 * have overwritten the seed, and the journal knows what the target holds. A gateway that stopped after publishing
 * and before the journal existed hashes again: nothing had been written yet, so it publishes the same hashes.
 */
async function publishSeedOnce(
  volume: GatewayConfig['volumes'][number],
  path: string,
  stateDir: string,
  records: Staging,
  ackKey: Buffer | undefined,
  options: RunGatewayOptions,
): Promise<string | undefined> {
  if (!volume.seed || (await readJournal(stateDir))) return undefined;
  options.onEvent?.({ type: 'hashing-seed', volumeKey: volume.volumeKey, path, seed: volume.seed.id });
  const hashes = await hashSeed(path, volume.sizeBytes, { signal: options.signal });
  const recordKey = seedRecordKey(volume.volumeKey);
  const record = await publishSeed(
    records,
    recordKey,
    { volumeKey: volume.volumeKey, seed: volume.seed.id, seedSizeBytes: volume.sizeBytes, hashes },
    ackKey,
  );
  options.onEvent?.({ type: 'seed-published', volumeKey: volume.volumeKey, recordKey, blocks: record.blockCount });
  return seedBaseId(record);
}

/** Beats until `signal` aborts when the config asks for a heartbeat and there is staging for it; else resolves. */
function startHeartbeat(config: GatewayConfig, options: RunGatewayOptions, signal: AbortSignal): Promise<void> {
  const { heartbeat } = config;
  const staging = options.heartbeatStaging;
  if (!heartbeat || !staging) return Promise.resolve();
  const started: GatewayEvent = {
    type: 'heartbeat-started',
    where: `${staging.description}/${HEARTBEAT_KEY}`,
    intervalSeconds: heartbeat.intervalSeconds,
  };
  return beatUntilAborted(
    {
      staging,
      runId: config.runId,
      intervalMs: heartbeat.intervalSeconds * 1000,
      ackKey: runKeyOf(config),
      onError: (error) => options.onEvent?.({ type: 'heartbeat-failed', error }),
      onBeat: (beat) => {
        if (beat.sequence === 1) options.onEvent?.(started);
      },
    },
    signal,
  );
}

function runKeyOf(config: GatewayConfig): Buffer | undefined {
  return config.ackKey === undefined ? undefined : Buffer.from(config.ackKey, 'hex');
}

/**
 * Polls until the device path exists (EBS attachments show up some seconds after boot or attach). Returns false
 * when aborted first. @throws GatewayDeviceMissingError after `deviceWaitMs`.
 */
async function waitForDevice(
  volume: GatewayConfig['volumes'][number],
  path: string,
  options: RunGatewayOptions,
): Promise<boolean> {
  const waitMs = options.deviceWaitMs ?? 600_000;
  const deadline = performance.now() + waitMs;
  let reported = false;
  while (!options.signal.aborted) {
    if (await exists(path)) return true;
    if (performance.now() >= deadline) {
      throw new GatewayDeviceMissingError(volume.volumeKey, volume.volumeId, path, waitMs);
    }
    if (!reported) options.onEvent?.({ type: 'waiting-for-device', volumeKey: volume.volumeKey, path });
    reported = true;
    await abortableSleep(DEVICE_POLL_MS, options.signal);
  }
  return false;
}

async function exists(path: string): Promise<boolean> {
  // stat follows symlinks: a dangling link (volume image gone) is not a device yet.
  return stat(path).then(
    () => true,
    () => false,
  );
}
