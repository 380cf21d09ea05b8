import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillWorkDir, WorkDirInUseError } from '../../cli/drill/work-dir.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hb-work-dir-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const MARKER = 'drill-in-progress.json';

describe('a drill work dir given with --work-dir', () => {
  it('refuses a dir a live drill is using', async () => {
    const dir = join(root, 'in-use');
    await mkdir(join(dir, 'compute'), { recursive: true });
    // The test's parent process is alive: it stands for a drill still running there.
    await writeFile(join(dir, MARKER), JSON.stringify({ pid: process.ppid, startedAt: new Date().toISOString() }));

    await expect(DrillWorkDir.open({ workDir: dir }, () => undefined)).rejects.toBeInstanceOf(WorkDirInUseError);
    expect(existsSync(join(dir, 'compute'))).toBe(true);
  });

  it("removes only what a finished drill left (cloud, compute), says so, and keeps the user's other files", async () => {
    const dir = join(root, 'finished');
    await mkdir(join(dir, 'cloud'), { recursive: true });
    await mkdir(join(dir, 'compute'), { recursive: true });
    await writeFile(join(dir, 'notes.txt'), 'mine');
    const said: string[] = [];

    const workDir = await DrillWorkDir.open({ workDir: dir }, (line) => said.push(line));

    expect(said).toEqual([`removing the previous drill's local cloud and hosts from ${dir}; starting afresh`]);
    expect(existsSync(join(dir, 'cloud'))).toBe(false);
    expect(existsSync(join(dir, 'compute'))).toBe(false);
    expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    expect(JSON.parse(await readFile(join(dir, MARKER), 'utf8'))).toMatchObject({ pid: process.pid });
    await workDir.close('finished');
    expect(existsSync(join(dir, MARKER))).toBe(false);
    expect(existsSync(dir)).toBe(true);
  });
});
