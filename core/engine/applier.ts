import { BLOCK_SIZE, bytesOnDisk } from '../blocks.js';
import {
  CorruptSegmentError,
  InvalidInputError,
  isNoSpaceError,
  PassOutOfOrderError,
  SpoolFullError,
  StagedObjectMissingError,
  TargetFullError,
  TargetTooSmallError,
} from '../errors.js';
import type { BlockTarget, Staging } from '../ports.js';
import { segmentBuffers } from './buffer-pool.js';
import { EarlySegments } from './early-segments.js';
import { JournalFile } from './journal.js';
import { ACK_KEY, MANIFEST_KEY, passPrefix } from './layout.js';
import {
  ACK_FORMAT,
  manifestDigest,
  type PassAck,
  PassManifest,
  parseStagedJson,
  type SegmentRecord,
} from './manifest.js';
import { signRecord } from './run-key.js';
import { decodeSegment, SegmentFormatError, verifySegmentBody } from './segment.js';
import { diskSpoolFor, type SegmentSpool, spoolFor } from './segment-spool.js';
import { StreamedSpool } from './streamed-spool.js';

/** Segments written between two checkpoints (fdatasync + journal): 128 MiB at the default segment size. */
const CHECKPOINT_SEGMENTS = 16;

export interface ApplierOptions {
  readonly staging: Staging;
  readonly volumeKey: string;
  readonly target: BlockTarget;
  /** Holds the journal and the spool of verified segments; must survive the process. */
  readonly stateDir: string;
  /** Segments downloaded at once. @default 4 */
  readonly fetchConcurrency?: number;
  /** Caps write throughput to spare a shared array. @default unlimited */
  readonly maxWriteMiBps?: number;
  readonly onProgress?: (progress: ApplyProgress) => void;
  /** The run's gateway key: each ack carries an HMAC made with it, so the control plane knows this run sent it. */
  readonly ackKey?: Buffer | undefined;
  /**
   * Where ack.json goes, at the same `<volumeKey>/pass-NNNNNN/` key: a sync gateway's own prefix
   * (core/gateway/scope.ts), the only place its role may write. @default staging
   */
  readonly ackStaging?: Staging | undefined;
  /**
   * The snapshot the target is known to hold before this applier's first pass (a target kept from a rolled-back run,
   * proven by that run's signed record, core/failback/kept-target.ts): a new journal starts at it, so an incremental
   * first pass from exactly that snapshot applies. Ignored once a journal exists. @default nothing (a full pass first)
   */
  readonly holdsSnapshotId?: string | undefined;
}

export interface FollowOptions {
  /** How often to look for new segments and the manifest. @default 1000 */
  readonly pollMs?: number;
  /** Give up waiting for the manifest after this long. @default forever */
  readonly timeoutMs?: number;
  /** Stops waiting (the pass will not come, e.g. its streamer failed). */
  readonly signal?: AbortSignal;
}

export interface ApplyProgress {
  readonly passNumber: number;
  readonly phase: 'fetch' | 'apply';
  readonly segmentsDone: number;
  readonly segments: number;
}

export interface ApplyReport {
  readonly passNumber: number;
  readonly snapshotId: string;
  /** False when the journal showed the pass already applied (the ack is re-sent). */
  readonly applied: boolean;
  readonly resumed: boolean;
  readonly blocksWritten: number;
  readonly bytesFetched: number;
  readonly seconds: number;
}

/**
 * Applies staged passes to one target disk, in order and whole:
 *   1. fetch — download every segment of the pass, check each against the manifest digest and each block against
 *      its SHA-256, and keep it in a local spool. A corrupt or missing segment stops the pass before the target is
 *      touched, so the target stays at the previous pass, a consistent point. A first full pass has no previous pass
 *      to keep: it is written as its segments are fetched and checked, without a spool (StreamedSpool).
 *   2. apply — blank the target first for a full pass (never for an incremental or seeded one), then write the
 *      spooled blocks with positional writes, re-checking each segment's digest; every 16 segments fdatasync and
 *      advance the journal.
 *   3. commit — fdatasync, journal the pass as applied, then write ack.json to staging.
 * A process killed at any instant resumes from the journal: re-writing a segment is idempotent, and no pass
 * after it starts until it is committed.
 */
export class Applier {
  private readonly early: EarlySegments;

  private constructor(
    private readonly options: ApplierOptions,
    private readonly journal: JournalFile,
  ) {
    this.early = new EarlySegments(options.staging, verifySegment);
  }

  /** @throws PassOutOfOrderError when stateDir belongs to another volume or target. */
  static async open(options: ApplierOptions): Promise<Applier> {
    const journal = await JournalFile.open(
      options.stateDir,
      options.volumeKey,
      options.target.path,
      options.holdsSnapshotId,
    );
    return new Applier(options, journal);
  }

  get lastAppliedPass(): number {
    return this.journal.current.lastAppliedPass;
  }

  get snapshotId(): string | null {
    return this.journal.current.snapshotId;
  }

  /** Reads and checks the manifest of a pass; undefined when it is not sealed yet. */
  async readManifest(passNumber: number): Promise<PassManifest | undefined> {
    const key = passPrefix(this.options.volumeKey, passNumber) + MANIFEST_KEY;
    const body = await this.options.staging.get(key).catch((error: unknown) => {
      if (error instanceof StagedObjectMissingError) return undefined;
      throw error;
    });
    if (!body) return undefined;
    const manifest = parseStagedJson(PassManifest, body, key);
    if (manifestDigest(manifest) !== manifest.digest) throw new CorruptSegmentError(key, 'manifest digest mismatch');
    if (manifest.volumeKey !== this.options.volumeKey || manifest.passNumber !== passNumber) {
      throw new CorruptSegmentError(key, `manifest names volume ${manifest.volumeKey} pass ${manifest.passNumber}`);
    }
    return manifest;
  }

  /** Applies every sealed pass after the last applied one, in order. Returns what it applied. */
  async applyAvailable(): Promise<ApplyReport[]> {
    const reports: ApplyReport[] = [];
    for (;;) {
      const next = this.journal.current.lastAppliedPass + 1;
      if (!(await this.readManifest(next))) return reports;
      reports.push(await this.applyPass(next));
    }
  }

  /**
   * Waits for pass `passNumber` to be sealed and applies it, downloading its segments while the streamer is still
   * staging them — on a final pass this overlap is downtime saved. A segment fetched early is checked on its own
   * (trailer digest, every block's SHA-256) and again against the manifest once that arrives; nothing reaches the
   * target before the manifest does.
   * @throws what applyPass throws; StagedObjectMissingError when `timeoutMs` passes first.
   */
  async followPass(passNumber: number, options: FollowOptions = {}): Promise<ApplyReport> {
    const pollMs = options.pollMs ?? 1000;
    const deadline = performance.now() + (options.timeoutMs ?? Number.POSITIVE_INFINITY);
    const prefix = passPrefix(this.options.volumeKey, passNumber);
    // Prefetching cannot know the pass's size yet, so it spools on disk; applyPass then finds it there.
    const spool: SegmentSpool = diskSpoolFor(this.options.stateDir, passNumber);
    const fetched = new Set<string>();
    while (passNumber > this.journal.current.lastAppliedPass && !(await this.manifestExists(passNumber))) {
      options.signal?.throwIfAborted();
      if (performance.now() > deadline) {
        throw new StagedObjectMissingError(
          `${this.options.staging.description}/${prefix}${MANIFEST_KEY} (waited ${options.timeoutMs} ms)`,
        );
      }
      const fresh = (await this.options.staging.list(`${prefix}segments/`)).filter((key) => !fetched.has(key));
      await runLimited(fresh, this.options.fetchConcurrency ?? 4, async (key) => {
        const body = await this.options.staging.get(key);
        fetched.add(key);
        // A segment that fails its own checks is not spooled; applyPass fetches it again and judges it against the
        // manifest (the streamer may have staged it anew by then).
        const indexSha256 = segmentChecksAlone(body, key);
        if (!indexSha256) return;
        await spool.put(key.slice(prefix.length), body, indexSha256).catch((error: unknown) => {
          if (!isNoSpaceError(error)) throw error;
          throw new SpoolFullError(this.options.stateDir, passNumber, body.length, { cause: error });
        });
      });
      if (fresh.length === 0) await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    return this.applyPass(passNumber);
  }

  /**
   * Starts downloading a segment its streamer has just staged, before the pass is sealed (see EarlySegments): a
   * streamer in this process calls it from its onSegment hook. Nothing reaches the target before applyPass has the
   * manifest and has matched every segment against it.
   */
  prefetch(passNumber: number, record: SegmentRecord): void {
    if (passNumber <= this.journal.current.lastAppliedPass) return;
    this.early.start(passNumber, passPrefix(this.options.volumeKey, passNumber), record);
  }

  private async manifestExists(passNumber: number): Promise<boolean> {
    return (
      (await this.options.staging.head(passPrefix(this.options.volumeKey, passNumber) + MANIFEST_KEY)) !== undefined
    );
  }

  /**
   * Applies one pass. Already applied: re-sends its ack and reports applied=false.
   * @throws StagedObjectMissingError (not sealed), PassOutOfOrderError, TargetTooSmallError, CorruptSegmentError.
   */
  async applyPass(passNumber: number): Promise<ApplyReport> {
    try {
      return await this.applyOnce(passNumber);
    } finally {
      await this.early.drop(passNumber);
    }
  }

  private async applyOnce(passNumber: number): Promise<ApplyReport> {
    const started = performance.now();
    const { staging, target, volumeKey } = this.options;
    if (!(Number.isInteger(passNumber) && passNumber >= 1)) {
      throw new InvalidInputError(`pass number must be a positive integer, got ${passNumber}`);
    }
    const manifest = await this.readManifest(passNumber);
    if (!manifest) {
      throw new StagedObjectMissingError(`${staging.description}/${passPrefix(volumeKey, passNumber)}${MANIFEST_KEY}`);
    }
    const state = this.journal.current;
    if (passNumber <= state.lastAppliedPass) {
      await this.acknowledge(manifest, 0);
      return {
        passNumber,
        snapshotId: manifest.snapshotId,
        applied: false,
        resumed: false,
        blocksWritten: 0,
        bytesFetched: 0,
        seconds: 0,
      };
    }
    this.checkOrder(manifest);
    if (target.sizeBytes < manifest.volumeSizeBytes) {
      throw new TargetTooSmallError(target.path, target.sizeBytes, manifest.volumeSizeBytes);
    }

    // The journal hears of the pass while its segments are fetched, so its fsyncs overlap the downloads. Nothing
    // reaches the target before the whole pass is verified: a pass that fails verification leaves the target at the
    // previous pass, and the journal only says that this pass was started (a rerun starts it from its first segment).
    // A first full pass, with no previous pass to keep, is the exception (writesAsFetched).
    const resumed = state.inProgress?.passNumber === passNumber && state.inProgress.manifestDigest === manifest.digest;
    const journaled = resumed
      ? Promise.resolve()
      : this.journal.save({
          ...state,
          inProgress: { passNumber, manifestDigest: manifest.digest, blanked: false, nextSegment: 0 },
        });
    const passBytes = manifest.segments.reduce((sum, segment) => sum + segment.bytes, 0);
    const recycled: Buffer[] = [];
    const streamed = (await this.writesAsFetched(manifest))
      ? new StreamedSpool(manifest.segments, (segment) => this.fetchVerified(manifest, segment), this.fetchConcurrency)
      : undefined;
    const fetching = streamed
      ? Promise.resolve({ spool: streamed as SegmentSpool, bytesFetched: 0 })
      : spoolFor(this.options.stateDir, passNumber, passBytes).then(async (spool) => ({
          spool,
          bytesFetched: await this.fetchAll(manifest, spool, recycled),
        }));
    // Both settle before anything goes on: a journal write must never outlive a failed call.
    const [fetched, saved] = await Promise.allSettled([fetching, journaled]);
    // A full disk is an operator's to fix, not a crash: say which directory and how much the pass needs there.
    const spoolFull = (error: unknown) =>
      isNoSpaceError(error)
        ? new SpoolFullError(this.options.stateDir, passNumber, passBytes, { cause: error })
        : error;
    if (fetched.status === 'rejected') throw spoolFull(fetched.reason);
    if (saved.status === 'rejected') throw spoolFull(saved.reason);
    const { spool, bytesFetched } = fetched.value;
    // The target's own ENOSPC is mapped where it is written; what else runs out of room is the state directory.
    const blocksWritten = await this.applySpooled(manifest, spool).catch(async (error: unknown) => {
      await streamed?.clear();
      throw spoolFull(error);
    });
    await target.sync().catch(this.targetFull(manifest));
    await this.journal.save({
      ...this.journal.current,
      lastAppliedPass: passNumber,
      snapshotId: manifest.snapshotId,
      inProgress: null,
    });
    await spool.clear();
    // Every fetch and write of the pass has settled: the bodies can hold the next segments.
    for (const body of recycled) segmentBuffers.release(body);
    await this.acknowledge(manifest, blocksWritten);
    return {
      passNumber,
      snapshotId: manifest.snapshotId,
      applied: true,
      resumed,
      blocksWritten,
      bytesFetched: bytesFetched + (streamed?.bytesFetched ?? 0),
      seconds: (performance.now() - started) / 1000,
    };
  }

  private inProgress() {
    const progress = this.journal.current.inProgress;
    if (!progress) throw new Error('journal has no pass in progress');
    return progress;
  }

  private checkOrder(manifest: PassManifest): void {
    const state = this.journal.current;
    const expected = state.lastAppliedPass + 1;
    if (manifest.passNumber !== expected) {
      throw new PassOutOfOrderError(
        `pass ${manifest.passNumber} of ${manifest.volumeKey} cannot be applied: the target is at pass ${state.lastAppliedPass}, so pass ${expected} comes next`,
      );
    }
    if (state.inProgress && state.inProgress.passNumber !== manifest.passNumber) {
      throw new PassOutOfOrderError(`pass ${state.inProgress.passNumber} is half applied; finish it first`);
    }
    // Incremental and seeded passes write only what differs from their base, so the target must hold exactly it: a
    // seeded pass's base is its seed (seedBaseId), which a journal starts at when opened with holdsSnapshotId.
    if (manifest.kind !== 'full' && manifest.baseSnapshotId !== state.snapshotId) {
      throw new PassOutOfOrderError(
        `${manifest.kind} pass ${manifest.passNumber} starts from ${manifest.baseSnapshotId}, but the target holds ${state.snapshotId ?? 'nothing yet (a full pass comes first)'}`,
      );
    }
  }

  /**
   * Whether this pass is written as its segments are fetched (StreamedSpool) instead of verified whole first: only a
   * first full pass, which has no earlier consistent state on the target to keep, and none a follower spooled already.
   */
  private async writesAsFetched(manifest: PassManifest): Promise<boolean> {
    const state = this.journal.current;
    if (manifest.kind !== 'full' || state.lastAppliedPass !== 0 || state.snapshotId !== null) return false;
    return !(await diskSpoolFor(this.options.stateDir, manifest.passNumber).exists());
  }

  private get fetchConcurrency(): number {
    return this.options.fetchConcurrency ?? 4;
  }

  /** A segment of the pass, checked in full against its record: the early download when there is one. */
  private async fetchVerified(manifest: PassManifest, segment: SegmentRecord): Promise<Buffer> {
    const early = await this.early.take(manifest.passNumber, segment);
    if (early) return early;
    const key = passPrefix(manifest.volumeKey, manifest.passNumber) + segment.key;
    const body = await this.options.staging.get(key, { allocate: (size) => segmentBuffers.acquire(size) });
    verifySegment(body, segment, key);
    return body;
  }

  /**
   * Downloads and verifies every segment into the spool; takes those downloaded early (`prefetch`) and skips those a
   * killed run or a follower already spooled.
   * Bodies go into recycled buffers, listed in `recycled` for the caller to give back once the pass is applied.
   */
  private async fetchAll(manifest: PassManifest, spool: SegmentSpool, recycled: Buffer[]): Promise<number> {
    const prefix = passPrefix(manifest.volumeKey, manifest.passNumber);
    let fetched = 0;
    let done = 0;
    const download = async (segment: SegmentRecord) => {
      if (await spool.find(segment.key, segment.indexSha256)) return undefined;
      const key = prefix + segment.key;
      const body = await this.options.staging.get(key, { allocate: (size) => segmentBuffers.acquire(size) });
      verifySegment(body, segment, key);
      return body;
    };
    await runLimited(manifest.segments, this.options.fetchConcurrency ?? 4, async (segment) => {
      const body = (await this.early.take(manifest.passNumber, segment)) ?? (await download(segment));
      if (body) {
        await spool.put(segment.key, body, segment.indexSha256);
        if (spool.keepsBodies) recycled.push(body);
        else segmentBuffers.release(body);
        fetched += body.length;
      }
      done += 1;
      this.options.onProgress?.({
        passNumber: manifest.passNumber,
        phase: 'fetch',
        segmentsDone: done,
        segments: manifest.segments.length,
      });
    });
    return fetched;
  }

  /** Maps the target's ENOSPC to TargetFullError, with what the pass has left to write from the last checkpoint. */
  private targetFull(manifest: PassManifest): (error: unknown) => never {
    return (error) => {
      if (!isNoSpaceError(error)) throw error;
      const left = manifest.segments.slice(this.inProgress().nextSegment);
      const bytesNeeded = left.reduce((sum, segment) => sum + segment.dataBlocks * BLOCK_SIZE, 0);
      throw new TargetFullError(this.options.target.path, manifest.passNumber, bytesNeeded, { cause: error });
    };
  }

  private async applySpooled(manifest: PassManifest, spool: SegmentSpool): Promise<number> {
    const { target } = this.options;
    const targetFull = this.targetFull(manifest);
    if (manifest.kind === 'full' && !this.inProgress().blanked) {
      await target.blank(manifest.volumeSizeBytes).catch(targetFull);
      await target.sync().catch(targetFull);
      await this.journal.save({ ...this.journal.current, inProgress: { ...this.inProgress(), blanked: true } });
    }
    const throttle = writeThrottle(this.options.maxWriteMiBps);
    let blocksWritten = 0;
    for (let index = this.inProgress().nextSegment; index < manifest.segments.length; index++) {
      const record = manifest.segments[index] as SegmentRecord;
      // The spooled body must still be the segment verified at fetch (a disk spool checks it all again).
      const body = await spool.find(record.key, record.indexSha256);
      if (!body) throw new CorruptSegmentError(record.key, 'spooled segment changed since it was verified');
      // One write at a time: positional writes to one file at once only queue on its inode lock, and spinning there
      // cost CPU without adding throughput (docs/bench.md).
      const blocks = decodeSegment(body);
      const lengths = blocks.map((block) => bytesOnDisk(block.blockIndex, manifest.volumeSizeBytes));
      for (let i = 0; i < blocks.length; i++) {
        const block = blocks[i] as (typeof blocks)[number];
        await target.write(block.data.subarray(0, lengths[i]), block.blockIndex * BLOCK_SIZE).catch(targetFull);
      }
      blocksWritten += blocks.length;
      await throttle(lengths.reduce((sum, length) => sum + length, 0));
      // Checkpoint every few segments: fdatasync, then advance the journal. A crash replays at most those
      // segments, which is harmless (positional writes of the same bytes).
      if ((index + 1) % CHECKPOINT_SEGMENTS === 0 && index + 1 < manifest.segments.length) {
        await target.sync().catch(targetFull);
        await this.journal.save({
          ...this.journal.current,
          inProgress: { ...this.inProgress(), nextSegment: index + 1 },
        });
      }
      this.options.onProgress?.({
        passNumber: manifest.passNumber,
        phase: 'apply',
        segmentsDone: index + 1,
        segments: manifest.segments.length,
      });
    }
    return blocksWritten;
  }

  private async acknowledge(manifest: PassManifest, blocksWritten: number): Promise<void> {
    const ack: PassAck = {
      format: ACK_FORMAT,
      volumeKey: manifest.volumeKey,
      passNumber: manifest.passNumber,
      snapshotId: manifest.snapshotId,
      manifestDigest: manifest.digest,
      target: this.options.target.path,
      blocksWritten,
      appliedAt: new Date().toISOString(),
    };
    const { ackKey } = this.options;
    await (this.options.ackStaging ?? this.options.staging).put(
      passPrefix(manifest.volumeKey, manifest.passNumber) + ACK_KEY,
      Buffer.from(JSON.stringify(ackKey ? signRecord(ackKey, ack) : ack)),
    );
  }
}

/**
 * Checks a staged segment against its manifest record (size, index digest, entry count) and every block against its
 * SHA-256: every byte the applier uses is covered, each payload hashed once.
 * @throws CorruptSegmentError naming the object.
 */
export function verifySegment(body: Buffer, record: SegmentRecord, key: string): void {
  if (body.length !== record.bytes) {
    throw new CorruptSegmentError(key, `${body.length} bytes, manifest says ${record.bytes}`);
  }
  const { blocks, indexSha256 } = parseVerified(body, key);
  if (indexSha256 !== record.indexSha256)
    throw new CorruptSegmentError(key, 'index digest does not match the manifest');
  if (blocks.length !== record.entries)
    throw new CorruptSegmentError(key, `${blocks.length} entries, manifest says ${record.entries}`);
}

/** The index digest of a segment fetched before its manifest exists, when it passes its own checks (trailer and
 * every block's SHA-256); undefined when it does not. */
function segmentChecksAlone(body: Buffer, key: string): string | undefined {
  try {
    return parseVerified(body, key).indexSha256;
  } catch (error) {
    if (error instanceof CorruptSegmentError) return undefined;
    throw error;
  }
}

function parseVerified(body: Buffer, key: string): ReturnType<typeof verifySegmentBody> {
  try {
    return verifySegmentBody(body);
  } catch (error) {
    if (error instanceof SegmentFormatError) throw new CorruptSegmentError(key, error.message, { cause: error });
    throw error;
  }
}

/**
 * Runs `work` over `items` with at most `limit` at once. After a failure no new item starts, and every item already
 * started settles before the first error is thrown: a spool write must not outlive the call that failed (on a full
 * disk its partial file would take the room the error says to free).
 */
async function runLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  let failed = false;
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined && !failed; item = queue.shift()) {
      await work(item).catch((error: unknown) => {
        failed = true;
        throw error;
      });
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(Math.max(1, limit), queue.length) }, worker));
  const failure = settled.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
}

/** Sleeps as needed to keep the average write rate under `maxMiBps`. */
function writeThrottle(maxMiBps: number | undefined): (bytes: number) => Promise<void> {
  if (!maxMiBps) return async () => undefined;
  const started = performance.now();
  let total = 0;
  return async (bytes) => {
    total += bytes;
    const due = (total / (maxMiBps * 1024 * 1024)) * 1000 - (performance.now() - started);
    if (due > 1) await new Promise((resolve) => setTimeout(resolve, due));
  };
}
