import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptRunRecordError, RUN_RECORD_FORMAT, type RunRecord, RunStore } from '../../core/agent/run-store.js';

function record(runId: string, following = true): RunRecord {
  return {
    format: RUN_RECORD_FORMAT,
    runId,
    platform: 'manual',
    hosts: [{ hostId: 'i-1', name: 'db', instanceType: 'm5.large', vCpus: 2, memoryMiB: 8192 }],
    volumes: [{ volumeId: 'vol-1', hostId: 'i-1', volumeKey: 'db', deviceIndex: 0, sizeBytes: 1024 }],
    disks: [
      { volumeId: 'vol-1', volumeKey: 'db', path: '/dev/sdb', sizeBytes: 2048, created: false, location: '/dev/sdb' },
    ],
    stagingPrefix: `runs/${runId}/volumes/`,
    recordsPrefix: `runs/${runId}/agent/`,
    ackKey: 'ab'.repeat(32),
    following,
    phase: following ? 'prepared' : 'cutover',
    updatedAt: new Date(0).toISOString(),
  };
}

describe('agent run store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hb-run-store-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps one owner-only record per run, replaced whole, and lists them in run order', async () => {
    const store = await RunStore.open(join(dir, 'state'));
    await store.put(record('run-b'));
    await store.put(record('run-a'));
    await store.put(record('run-b', false));
    // What a SIGKILL during a put leaves behind: a temp file, which is not a record.
    await writeFile(join(dir, 'state', 'runs', 'run-c.json.tmp'), '{"format":');

    const reopened = await RunStore.open(join(dir, 'state'));
    const listed = await reopened.list();

    expect(listed.map((each) => [each.runId, each.following])).toEqual([
      ['run-a', true],
      ['run-b', false],
    ]);
    expect(await reopened.get('run-b')).toEqual(record('run-b', false));
    expect(await reopened.get('run-none')).toBeUndefined();
    expect((await stat(join(dir, 'state', 'runs', 'run-a.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
    expect((await readdir(join(dir, 'state', 'runs'))).sort()).toEqual(['run-a.json', 'run-b.json', 'run-c.json.tmp']);
  });

  it('names a record damaged outside the agent instead of guessing', async () => {
    const store = await RunStore.open(dir);
    await writeFile(join(dir, 'runs', 'run-x.json'), JSON.stringify({ ...record('run-x'), following: 'yes' }));

    await expect(store.get('run-x')).rejects.toBeInstanceOf(CorruptRunRecordError);
    await expect(store.list()).rejects.toThrow(/run-x\.json is unreadable: following/);
  });
});
