import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JOURNAL_FORMAT, type Journal, JournalFile, readJournal } from '../../core/engine/journal.js';
import { CorruptJournalError, PassOutOfOrderError } from '../../core/errors.js';

const SLOT_BYTES = 64 * 1024;

describe('applier journal (two slots)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hb-journal-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const applied = (journal: JournalFile, pass: number): Journal => ({
    ...journal.current,
    lastAppliedPass: pass,
    snapshotId: `snap-${pass}`,
    inProgress: null,
  });

  it('reopens at the last state saved, whichever slot holds it', async () => {
    const journal = await JournalFile.open(dir, 'vol-a', '/dev/target');
    for (let pass = 1; pass <= 5; pass++) await journal.save(applied(journal, pass));
    const reopened = await JournalFile.open(dir, 'vol-a', '/dev/target');
    expect(reopened.current).toMatchObject({ lastAppliedPass: 5, snapshotId: 'snap-5' });
    expect((await stat(join(dir, 'journal.bin'))).size).toBe(2 * SLOT_BYTES);
    // Saving again after a reopen must not overwrite the slot holding the current state.
    await reopened.save(applied(reopened, 6));
    expect(await readJournal(dir)).toMatchObject({ lastAppliedPass: 6 });
  });

  it('falls back to the previous state when the slot being written was torn by a crash', async () => {
    const journal = await JournalFile.open(dir, 'vol-a', '/dev/target');
    await journal.save(applied(journal, 1));
    await journal.save(applied(journal, 2)); // sequence 3: slot 1
    const file = await open(join(dir, 'journal.bin'), 'r+');
    await file.write(Buffer.from('torn'), 0, 4, SLOT_BYTES + 100);
    await file.close();
    expect(await readJournal(dir)).toMatchObject({ lastAppliedPass: 1 });
  });

  it('refuses a journal with no whole slot, naming the file', async () => {
    await JournalFile.open(dir, 'vol-a', '/dev/target');
    await writeFile(join(dir, 'journal.bin'), Buffer.alloc(2 * SLOT_BYTES, 7));
    await expect(JournalFile.open(dir, 'vol-a', '/dev/target')).rejects.toThrow(CorruptJournalError);
    await expect(readJournal(dir)).rejects.toThrow(/journal\.bin/);
  });

  it('refuses a state directory of another volume or target', async () => {
    await JournalFile.open(dir, 'vol-a', '/dev/target');
    await expect(JournalFile.open(dir, 'vol-b', '/dev/target')).rejects.toThrow(PassOutOfOrderError);
    await expect(JournalFile.open(dir, 'vol-a', '/dev/other')).rejects.toThrow(PassOutOfOrderError);
  });

  it('carries over a journal.json of the previous format and removes it', async () => {
    const legacy: Journal = {
      format: JOURNAL_FORMAT,
      volumeKey: 'vol-a',
      target: '/dev/target',
      lastAppliedPass: 3,
      snapshotId: 'snap-3',
      inProgress: { passNumber: 4, manifestDigest: 'abc', blanked: false, nextSegment: 2 },
    };
    await writeFile(join(dir, 'journal.json'), JSON.stringify(legacy));
    const journal = await JournalFile.open(dir, 'vol-a', '/dev/target');
    expect(journal.current).toEqual(legacy);
    expect(await readJournal(dir)).toEqual(legacy);
    await expect(readFile(join(dir, 'journal.json'))).rejects.toThrow(/ENOENT/);
  });
});
