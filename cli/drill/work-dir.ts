import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { HomeboundError } from '../../core/errors.js';

/** Another drill that is still running uses the `--work-dir` given. */
export class WorkDirInUseError extends HomeboundError {
  constructor(dir: string, pid: number) {
    super(`${dir} is the work dir of a drill that is still running (pid ${pid}); give another --work-dir`);
  }
}

/** What a drill writes into its work dir while it runs: who runs there, and how far the run got. */
const Marker = z.object({
  pid: z.number().int(),
  startedAt: z.string(),
  runId: z.string().optional(),
  state: z.string().optional(),
  interrupted: z.boolean().optional(),
});
type Marker = z.infer<typeof Marker>;

const MARKER = 'drill-in-progress.json';
/** What a drill creates in its work dir, and all it ever removes from a dir the user gave. */
const DRILL_ENTRIES = ['cloud', 'compute', MARKER] as const;
const TEMP_PREFIX = 'homebound-drill-';

/**
 * A drill's work dir: a temp dir (removed at the end unless kept) or the user's `--work-dir`. While a drill runs, a
 * marker file names its process and the state its run is in, so a later drill can tell a dead one's leftovers
 * (after SIGKILL, or a crash) from a drill still running, say where it stopped, end its processes and start afresh.
 */
export class DrillWorkDir {
  private marker: Marker;

  private constructor(
    readonly dir: string,
    /** True when removing the whole dir at the end is ours to do (a temp dir, not kept). */
    readonly removable: boolean,
  ) {
    this.marker = { pid: process.pid, startedAt: new Date().toISOString() };
  }

  /**
   * Opens the work dir: cleans what an earlier drill left in the user's dir (saying so) and any temp dir a dead drill
   * left, then marks the dir as this process's.
   * @throws WorkDirInUseError when a live drill uses the user's dir.
   */
  static async open(
    options: { workDir?: string | undefined; keepWorkDir?: boolean | undefined },
    say: (line: string) => void,
  ): Promise<DrillWorkDir> {
    await removeDeadTempDirs(say);
    if (options.workDir === undefined) {
      const temp = new DrillWorkDir(await mkdtemp(join(tmpdir(), TEMP_PREFIX)), !options.keepWorkDir);
      temp.save();
      return temp;
    }
    const dir = resolve(options.workDir);
    await mkdir(dir, { recursive: true });
    await cleanPreviousDrill(dir, say);
    const given = new DrillWorkDir(dir, false);
    given.save();
    return given;
  }

  /** Records the run and the top-level state it entered: what a later drill reports if this one dies. */
  entered(runId: string, state: string): void {
    this.marker = { ...this.marker, runId, state };
    this.save();
  }

  /** The drill ended (or was interrupted and cleaned up): removes the temp dir, or leaves the given dir marked. */
  async close(how: 'finished' | 'interrupted'): Promise<void> {
    if (this.removable) {
      await rm(this.dir, { recursive: true, force: true });
      return;
    }
    if (how === 'finished') {
      await rm(join(this.dir, MARKER), { force: true });
      return;
    }
    this.marker = { ...this.marker, interrupted: true };
    this.save();
  }

  // Synchronous and atomic (temp file, rename): a kill at any moment leaves the old marker or the new one.
  private save(): void {
    const path = join(this.dir, MARKER);
    writeFileSync(`${path}.tmp`, JSON.stringify(this.marker));
    renameSync(`${path}.tmp`, path);
  }
}

function readMarker(dir: string): Marker | undefined {
  try {
    const parsed = Marker.safeParse(JSON.parse(readFileSync(join(dir, MARKER), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes what an earlier drill left in `dir`, ending its leftover processes; throws when that drill still runs. */
async function cleanPreviousDrill(dir: string, say: (line: string) => void): Promise<void> {
  const marker = readMarker(dir);
  if (marker && marker.pid !== process.pid && alive(marker.pid)) throw new WorkDirInUseError(dir, marker.pid);
  const present = await Promise.all(
    DRILL_ENTRIES.map((entry) =>
      stat(join(dir, entry)).then(
        () => true,
        () => false,
      ),
    ),
  );
  if (!present.some(Boolean)) return;
  const ended = await endProcessesUnder(dir);
  if (marker) {
    const where = marker.state ? ` at ${marker.state}` : '';
    const run = marker.runId ? ` (run ${marker.runId})` : '';
    const processes = ended > 0 ? ` (${ended} leftover process${ended === 1 ? '' : 'es'} ended)` : '';
    say(
      `a previous drill${run} was interrupted here${where}; its hosts were stopped${processes}; removing its local cloud and starting afresh`,
    );
  } else {
    say(`removing the previous drill's local cloud and hosts from ${dir}; starting afresh`);
  }
  for (const entry of DRILL_ENTRIES) await rm(join(dir, entry), { recursive: true, force: true });
}

/** Temp dirs of drills that died without cleaning up (SIGKILL): their marker names a process that is gone. */
async function removeDeadTempDirs(say: (line: string) => void): Promise<void> {
  const entries = await readdir(tmpdir()).catch(() => []);
  for (const entry of entries.filter((name) => name.startsWith(TEMP_PREFIX))) {
    const dir = join(tmpdir(), entry);
    const marker = readMarker(dir);
    // An interrupted drill cleaned up after itself: a temp dir it left was kept on purpose (--keep-work-dir).
    if (!marker || marker.interrupted || alive(marker.pid)) continue;
    await endProcessesUnder(dir);
    await rm(dir, { recursive: true, force: true });
    say(`removed ${dir}, left by a drill that was killed${marker.state ? ` at ${marker.state}` : ''}`);
  }
}

/**
 * Ends the processes whose command line names a path under `dir` (a dead drill's sync gateways, which outlive it
 * after a SIGKILL): SIGTERM, then SIGKILL for those still there after 5 s. Reads /proc, so only on Linux; elsewhere
 * it finds none. Returns how many it found.
 */
async function endProcessesUnder(dir: string): Promise<number> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [])) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg.startsWith(`${dir}/`))) pids.push(pid);
  }
  const signal = (pid: number, name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch {
      // Gone already.
    }
  };
  for (const pid of pids) signal(pid, 'SIGTERM');
  for (let waited = 0; waited < 5000 && pids.some(alive); waited += 100) await sleep(100);
  for (const pid of pids.filter(alive)) signal(pid, 'SIGKILL');
  return pids.length;
}
