import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunFollower } from '../../core/agent/follower.js';
import { handleOperation, type OperationContext } from '../../core/agent/handle-operation.js';
import { RunStore } from '../../core/agent/run-store.js';
import { JournalFile, readJournal } from '../../core/engine/journal.js';
import { createVolume } from '../../core/localcloud/local-volume.js';
import { ManualPlatform } from '../../core/onprem/manual-platform.js';
import { MemoryStaging } from '../support/memory-staging.js';

const MiB = 2 ** 20;
const signal = new AbortController().signal;

/** PrepareTarget as the conditional state machine sends it, for two disks of one host. */
function prepare(runId: string, bases?: { volumeKey: string; snapshotId: string }[]): string {
  return JSON.stringify({
    operation: 'PrepareTarget',
    runId,
    hosts: [{ hostId: 'i-1', name: 'db', instanceType: 'm5.large', vCpus: 2, memoryMiB: 8192 }],
    volumes: [
      { hostId: 'i-1', volumeId: 'vol-a', volumeKey: 'db-0', sizeBytes: 4 * MiB },
      { hostId: 'i-1', volumeId: 'vol-b', volumeKey: 'db-1', sizeBytes: 4 * MiB },
    ],
    ...(bases ? { bases } : {}),
  });
}

describe('agent: which kept snapshot its disks hold (PrepareTarget bases)', () => {
  let dir: string;
  let context: OperationContext;
  let follower: RunFollower;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hb-held-'));
    await createVolume(join(dir, 'a.img'), 4 * MiB);
    await createVolume(join(dir, 'b.img'), 4 * MiB);
    const stateDir = join(dir, 'state');
    const staging = new MemoryStaging();
    follower = new RunFollower({ stagingAt: () => staging, bucket: 'memory', stateDir, pollMs: 20 });
    context = {
      platform: new ManualPlatform({
        disks: { 'vol-a': { path: join(dir, 'a.img') }, 'vol-b': { path: join(dir, 'b.img') } },
      }),
      store: await RunStore.open(stateDir),
      follower,
      stateDir,
    };
  });
  afterEach(async () => {
    await follower.stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  /** Run 1 prepared, its appliers left journals saying each disk holds `snap-<key>` after pass 2, then rolled back. */
  async function rolledBackRun(inProgressOn?: string): Promise<void> {
    await handleOperation(context, prepare('run-1'), signal);
    await follower.stop('run-1');
    for (const [volumeKey, file] of [
      ['db-0', 'a.img'],
      ['db-1', 'b.img'],
    ] as const) {
      const journal = await JournalFile.open(join(dir, 'state/appliers/run-1', volumeKey), volumeKey, join(dir, file));
      await journal.save({
        ...journal.current,
        lastAppliedPass: 2,
        snapshotId: `snap-${volumeKey}`,
        inProgress:
          inProgressOn === volumeKey
            ? { passNumber: 3, manifestDigest: 'x'.repeat(64), blanked: true, nextSegment: 0 }
            : null,
      });
    }
    await handleOperation(context, JSON.stringify({ operation: 'Rollback', runId: 'run-1' }), signal);
  }

  const bases = [
    { volumeKey: 'db-0', snapshotId: 'snap-db-0' },
    { volumeKey: 'db-1', snapshotId: 'snap-db-1' },
  ];

  it('proves every disk from the rolled-back run journal and opens the new run holding the kept snapshot', async () => {
    await rolledBackRun();

    const result = await handleOperation(context, prepare('run-2', bases), signal);

    expect(result.allHeld).toBe(true);
    expect(result.held).toEqual([
      { volumeKey: 'db-0', snapshotId: 'snap-db-0', held: true, reason: expect.stringContaining('run-1') },
      { volumeKey: 'db-1', snapshotId: 'snap-db-1', held: true, reason: expect.stringContaining('run-1') },
    ]);
    const record = await context.store.get('run-2');
    expect(record?.disks.map((disk) => disk.holdsSnapshotId)).toEqual(['snap-db-0', 'snap-db-1']);
    // The follower's appliers open the disks as holding the kept snapshot, so pass 1 applies incrementally onto them.
    await expect
      .poll(() => readJournal(join(dir, 'state/appliers/run-2/db-0')), { timeout: 5000 })
      .toMatchObject({ lastAppliedPass: 0, snapshotId: 'snap-db-0', target: join(dir, 'a.img') });

    // A retried PrepareTarget answers what the first attempt recorded (run-2's own journals now exist).
    const again = await handleOperation(context, prepare('run-2', bases), signal);
    expect(again.allHeld).toBe(true);
  });

  it('refuses all when one disk had a pass in progress, naming it, and opens no disk as holding anything', async () => {
    await rolledBackRun('db-1');

    const result = await handleOperation(context, prepare('run-2', bases), signal);

    expect(result.allHeld).toBe(false);
    expect(result.held).toEqual([
      expect.objectContaining({ volumeKey: 'db-0', held: true }),
      expect.objectContaining({
        volumeKey: 'db-1',
        held: false,
        reason: expect.stringContaining('pass 3 in progress'),
      }),
    ]);
    const record = await context.store.get('run-2');
    expect(record?.disks.map((disk) => disk.holdsSnapshotId)).toEqual([undefined, undefined]);
  });

  it('does not prove a snapshot the journal does not name, nor a disk whose last run did not end', async () => {
    await rolledBackRun();
    const wrong = await handleOperation(
      context,
      prepare('run-2', [
        { volumeKey: 'db-0', snapshotId: 'snap-db-0' },
        { volumeKey: 'db-1', snapshotId: 'snap-other' },
      ]),
      signal,
    );
    expect(wrong.allHeld).toBe(false);
    expect(wrong.held).toContainEqual(
      expect.objectContaining({ volumeKey: 'db-1', held: false, reason: expect.stringContaining('holds snap-db-1') }),
    );

    // run-2 is still prepared (following): a run-3 may not trust run-1's journal for disks run-2 may have written.
    const third = await handleOperation(context, prepare('run-3', bases), signal);
    expect(third.allHeld).toBe(false);
    expect(third.held).toContainEqual(
      expect.objectContaining({ volumeKey: 'db-0', held: false, reason: expect.stringContaining('run-2') }),
    );
  });

  it('answers nothing when no bases are proposed (a first run): a full pass', async () => {
    const result = await handleOperation(context, prepare('run-1'), signal);
    expect(result.held).toBeUndefined();
    const record = await context.store.get('run-1');
    expect(record?.disks.every((disk) => disk.holdsSnapshotId === undefined)).toBe(true);
  });
});
