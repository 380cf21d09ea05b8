import { BLOCK_SIZE, blockCountFor, bytesOnDisk, sha256Hex } from '../blocks.js';
import { InvalidInputError } from '../errors.js';
import { writeVolume } from '../localcloud/local-volume.js';
import { seededRandom } from '../seeded-random.js';

/**
 * A stand-in for production on a local takeover host: while running it keeps overwriting whole 512 KiB blocks of the
 * host's volumes (seeded choice of volume, block and content; some writes are zeros) through `writeVolume`, so the
 * written-block sidecar stays true. Writes are one at a time, so pausing or stopping only waits for one write.
 */

export interface WorkloadVolume {
  readonly volumeId: string;
  readonly path: string;
  readonly sizeBytes: number;
}

/** One completed write, in order. */
export interface WorkloadWrite {
  readonly volumeId: string;
  readonly blockIndex: number;
  readonly zero: boolean;
  /** Hex SHA-256 of the bytes written (the whole block, or the volume's short last block). */
  readonly sha256: string;
}

export interface LocalWorkloadOptions {
  /** Block writes per second; 0 is an idle host that writes nothing. */
  readonly writesPerSecond: number;
  /** @default 1 */
  readonly seed?: number;
  /** Share of writes that write zeros. @default 0.15 */
  readonly zeroFraction?: number;
  /** The host's volumes at the moment of each write (attach/detach change them). */
  readonly volumes: () => readonly WorkloadVolume[];
}

/** Held while the workload is paused; `writeCount` writes completed before the pause and none runs until resume. */
export interface WorkloadPause {
  readonly writeCount: number;
  resume(): void;
}

/** @throws InvalidInputError unless `writesPerSecond` is a finite number ≥ 0. */
export function assertWriteRate(writesPerSecond: number): void {
  if (!(Number.isFinite(writesPerSecond) && writesPerSecond >= 0)) {
    throw new InvalidInputError(`writesPerSecond must be 0 or more, got ${writesPerSecond}`);
  }
}

export class LocalWorkload {
  private readonly random: () => number;
  private readonly log: WorkloadWrite[] = [];
  private loop: Promise<void> | undefined;
  private stopping = false;
  private pauses = 0;
  private unpaused: Promise<void> = Promise.resolve();
  private release: () => void = () => {};
  private current: Promise<void> = Promise.resolve();
  private wake: () => void = () => {};
  private stopRequested: Promise<void> = Promise.resolve();
  private requestStop: () => void = () => {};
  private failure: unknown;

  /** @throws InvalidInputError when writesPerSecond is negative or not a finite number. */
  constructor(private readonly options: LocalWorkloadOptions) {
    assertWriteRate(options.writesPerSecond);
    this.random = seededRandom(options.seed ?? 1);
  }

  get running(): boolean {
    return this.loop !== undefined;
  }

  /** Completed writes so far, oldest first. */
  get writes(): readonly WorkloadWrite[] {
    return this.log;
  }

  /** The error that ended the write loop, if one did. */
  get error(): unknown {
    return this.failure;
  }

  /** Starts writing; a no-op while running. */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.stopRequested = new Promise((resolve) => {
      this.requestStop = resolve;
    });
    this.loop = this.run();
  }

  /** Stops writing and resolves once the last in-flight write has landed. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.requestStop();
    this.wake();
    await this.loop;
    this.loop = undefined;
  }

  /** Holds off new writes and waits for the in-flight one, for a crash-consistent snapshot across volumes. */
  async pause(): Promise<WorkloadPause> {
    if (this.pauses++ === 0) {
      this.unpaused = new Promise((resolve) => {
        this.release = resolve;
      });
    }
    await this.current;
    let resumed = false;
    return {
      writeCount: this.log.length,
      resume: () => {
        if (resumed) return;
        resumed = true;
        if (--this.pauses === 0) this.release();
      },
    };
  }

  private async run(): Promise<void> {
    // An idle host: 1000 / 0 is Infinity, which setTimeout turns into 1 ms (a thousand writes a second).
    if (this.options.writesPerSecond === 0) return this.stopRequested;
    const intervalMs = 1000 / this.options.writesPerSecond;
    // Writes are due on a fixed schedule, not an interval after the last one landed: `writesPerSecond` is then the rate
    // the host writes at (what `homebound estimate` is given), not that rate less the time each write takes. Writes held
    // back by a pause or a slow disk catch up, by at most a second's worth.
    let due = performance.now();
    try {
      while (!this.stopping) {
        if (this.pauses > 0) await Promise.race([this.unpaused, this.stopRequested]);
        if (this.stopping) break;
        // No await between the pause check and this assignment: a pause either sees this write or prevents it.
        this.current = this.writeOne();
        await this.current;
        const now = performance.now();
        due = Math.max(due + intervalMs, now - 1000);
        if (due > now) await this.sleep(due - now);
      }
    } catch (error) {
      this.failure = error;
    }
  }

  private async writeOne(): Promise<void> {
    const volumes = this.options.volumes();
    const volume = volumes[Math.floor(this.random() * volumes.length)];
    if (!volume) return;
    const blockIndex = Math.floor(this.random() * blockCountFor(volume.sizeBytes));
    const zero = this.random() < (this.options.zeroFraction ?? 0.15);
    const data = zero ? Buffer.alloc(bytesOnDisk(blockIndex, volume.sizeBytes)) : this.content(blockIndex, volume);
    await writeVolume(volume.path, blockIndex * BLOCK_SIZE, data);
    this.log.push({ volumeId: volume.volumeId, blockIndex, zero, sha256: sha256Hex(data) });
  }

  // A random 4 KiB pattern repeated over the block: cheap to make, and distinct from every other write.
  private content(blockIndex: number, volume: WorkloadVolume): Buffer {
    const pattern = Buffer.alloc(4096);
    for (let offset = 0; offset < pattern.length; offset += 4) {
      pattern.writeUInt32LE(Math.floor(this.random() * 0x1_0000_0000), offset);
    }
    const data = Buffer.alloc(bytesOnDisk(blockIndex, volume.sizeBytes));
    for (let offset = 0; offset < data.length; offset += pattern.length) pattern.copy(data, offset);
    return data;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
