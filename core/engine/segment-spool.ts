import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { sha256Hex } from '../blocks.js';

/**
 * Where the applier keeps a pass's verified segments between fetching them and writing them to the target.
 * A pass is written only once all of it is here, so a corrupt or missing segment never reaches the target.
 */
export interface SegmentSpool {
  /** Whether `put` keeps the body it is given (memory) rather than a copy of it (disk). */
  readonly keepsBodies: boolean;
  /** The spooled body of `segmentKey` when it is held with exactly this SHA-256 (hex); undefined otherwise. */
  find(segmentKey: string, sha256: string): Promise<Buffer | undefined>;
  /** `sha256` (hex): the body's digest when the caller just verified it, so a memory spool need not hash it again. */
  put(segmentKey: string, body: Buffer, sha256?: string): Promise<void>;
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

  async find(segmentKey: string, sha256: string): Promise<Buffer | undefined> {
    const body = await readFile(this.file(segmentKey)).catch(() => undefined);
    return body && sha256Hex(body) === sha256 ? body : undefined;
  }

  async put(segmentKey: string, body: Buffer): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.file(segmentKey);
    await writeFile(`${file}.tmp`, body, { mode: 0o600 });
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
  private readonly bodies = new Map<string, { body: Buffer; sha256: string }>();

  async find(segmentKey: string, sha256: string): Promise<Buffer | undefined> {
    const held = this.bodies.get(segmentKey);
    return held?.sha256 === sha256 ? held.body : undefined;
  }

  async put(segmentKey: string, body: Buffer, sha256?: string): Promise<void> {
    this.bodies.set(segmentKey, { body, sha256: sha256 ?? sha256Hex(body) });
  }

  async clear(): Promise<void> {
    this.bodies.clear();
  }
}
