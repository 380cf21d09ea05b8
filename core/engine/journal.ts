import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { PassOutOfOrderError } from '../errors.js';

export const JOURNAL_FORMAT = 'homebound.journal/v1';

export const Journal = z.object({
  format: z.literal(JOURNAL_FORMAT),
  volumeKey: z.string(),
  target: z.string(),
  /** 0 before the first pass. */
  lastAppliedPass: z.number().int().nonnegative(),
  /** Snapshot the target now equals (as of lastAppliedPass). */
  snapshotId: z.string().nullable(),
  inProgress: z
    .object({
      passNumber: z.number().int().positive(),
      manifestDigest: z.string(),
      /** A full pass blanks the target once, before its first segment. */
      blanked: z.boolean(),
      /** Segments below this index are written and durable. */
      nextSegment: z.number().int().nonnegative(),
    })
    .nullable(),
});
export type Journal = z.infer<typeof Journal>;

/**
 * The applier's journal: one small JSON file replaced atomically (write temp, fsync, rename, fsync dir), so a process
 * killed at any instant finds either the old or the new state, never a torn one.
 */
export class JournalFile {
  private constructor(
    readonly path: string,
    private state: Journal,
  ) {}

  /**
   * Opens the journal in `stateDir`, creating it for this volume and target when absent.
   * @throws PassOutOfOrderError when the journal belongs to another volume or target.
   */
  static async open(stateDir: string, volumeKey: string, target: string): Promise<JournalFile> {
    const path = join(stateDir, 'journal.json');
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const raw = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (raw === undefined) {
      const journal = new JournalFile(path, {
        format: JOURNAL_FORMAT,
        volumeKey,
        target,
        lastAppliedPass: 0,
        snapshotId: null,
        inProgress: null,
      });
      await journal.save(journal.state);
      return journal;
    }
    const state = Journal.parse(JSON.parse(raw));
    if (state.volumeKey !== volumeKey || state.target !== target) {
      throw new PassOutOfOrderError(
        `state directory ${stateDir} belongs to volume ${state.volumeKey} on ${state.target}, not ${volumeKey} on ${target}`,
      );
    }
    return new JournalFile(path, state);
  }

  get current(): Readonly<Journal> {
    return this.state;
  }

  async save(next: Journal): Promise<void> {
    const temp = `${this.path}.tmp`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(next));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.path);
    const dir = await open(dirname(this.path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    this.state = next;
  }
}
