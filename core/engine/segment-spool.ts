import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { SegmentFormatError, verifySegmentBody } from './segment.js';

/**
 * Where the applier keeps a pass's verified segments between fetching them and writing them to the target.
 * A pass is written only once all of it is here, so a corrupt or missing segment never reaches the target.
 */
export interface SegmentSpool {
  /** Whether `put` keeps the body it is given (memory) rather than a copy of it (disk). */
  readonly keepsBodies: boolean;
  /** The spooled body of `segmentKey` when it is a whole segment with exactly this index digest (hex); undefined
   * otherwise. */
  find(segmentKey: string, indexSha256: string): Promise<Buffer | undefined>;
  /** Keeps a verified segment; `indexSha256` is the digest its verification found. */
  put(segmentKey: string, body: Buffer, indexSha256: string): Promise<void>;
  clear(): Promise<void>;
}

/** Passes at most this large are spooled in memory; larger ones on disk in the state directory. */
export const MEMORY_SPOOL_MAX_BYTES = 64 * 1024 * 1024;

/**
 * The spool for one pass: on disk when the pass is large or a disk spool for it already exists (an earlier run was
 * killed, or a follower prefetched), in memory otherwise — a small incremental pass skips the file round trip.
 */
export async function spoolFor(stateDir: string, passNumber: number, passBytes: number): Promise<SegmentSpool> {
  const disk = diskSpoolFor(stateDir, passNumber);
  if (passBytes > MEMORY_SPOOL_MAX_BYTES || (await disk.exists())) return disk;
  return new MemorySpool();
}

/** The on-disk spool of one pass under the applier's state directory. */
export function diskSpoolFor(stateDir: string, passNumber: number): DiskSpool {
  return new DiskSpool(join(stateDir, 'spool', `pass-${String(passNumber).padStart(6, '0')}`));
}

/** Segment files in a directory; survives the process, so a killed applier reuses what it verified. */
export class DiskSpool implements SegmentSpool {
  readonly keepsBodies = false;
  constructor(readonly dir: string) {}

  async exists(): Promise<boolean> {
    return (await readdir(this.dir).catch(() => [])).length > 0;
  }

  /** Checks the file all over again (index digest and every block): local disks can rot or be tampered with. */
  async find(segmentKey: string, indexSha256: string): Promise<Buffer | undefined> {
    const body = await readFile(this.file(segmentKey)).catch(() => undefined);
    if (!body) return undefined;
    try {
      return verifySegmentBody(body).indexSha256 === indexSha256 ? body : undefined;
    } catch (error) {
      if (error instanceof SegmentFormatError) return undefined;
      throw error;
    }
  }

  async put(segmentKey: string, body: Buffer): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.file(segmentKey);
    try {
      await writeFile(`${file}.tmp`, body, { mode: 0o600 });
    } catch (error) {
      // A partial file on a full disk only takes room another write needs.
      await rm(`${file}.tmp`, { force: true });
      throw error;
    }
    await rename(`${file}.tmp`, file);
  }

  clear(): Promise<void> {
    return rm(this.dir, { recursive: true, force: true });
  }

  private file(segmentKey: string): string {
    return join(this.dir, basename(segmentKey));
  }
}

/** Segments held in memory for a small pass. */
export class MemorySpool implements SegmentSpool {
  readonly keepsBodies = true;
  private readonly bodies = new Map<string, { body: Buffer; indexSha256: string }>();

  async find(segmentKey: string, indexSha256: string): Promise<Buffer | undefined> {
    const held = this.bodies.get(segmentKey);
    return held?.indexSha256 === indexSha256 ? held.body : undefined;
  }

  async put(segmentKey: string, body: Buffer, indexSha256: string): Promise<void> {
    this.bodies.set(segmentKey, { body, indexSha256 });
  }

  async clear(): Promise<void> {
    this.bodies.clear();
  }
}
