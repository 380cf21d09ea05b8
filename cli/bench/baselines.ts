import { spawn } from 'node:child_process';
import { readFile, stat, utimes } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { InvalidInputError } from '../../core/errors.js';

/** Runs a command to completion and returns its wall time in seconds. */
export async function timeCommand(command: string, args: readonly string[]): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new InvalidInputError(
              `${command} is not installed; the bench compares against it (apt-get install -y ${command})`,
            )
          : error,
      );
    });
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.trim()}`)),
    );
  });
  return (performance.now() - started) / 1000;
}

/** The local copy limit: a sparse-aware copy of the whole image. */
export function timeSparseCopy(source: string, destination: string): Promise<number> {
  return timeCommand('cp', ['--sparse=always', source, destination]);
}

/** What an engineer would script instead: rsync's delta algorithm updating the old copy in place. */
export function timeRsyncDelta(source: string, destination: string): Promise<number> {
  return timeCommand('rsync', ['--inplace', '--no-whole-file', source, destination]);
}

/** Sets a file's times to a day ago, as an old copy's would be. */
export async function ageFile(path: string): Promise<void> {
  const dayAgo = new Date(Date.now() - 86_400_000);
  await utimes(path, dayAgo, dayAgo);
}

/**
 * Flushes every dirty page to disk (sync(1)) and waits until the disk holding `dir` has finished what earlier steps
 * left it, so that no contender pays for another's I/O: on ext4 an fsync can wait for unrelated dirty data (the
 * gigabyte `cp` just wrote) or queue behind the discards of files just deleted (a full pass's spool).
 */
export async function settleDisk(dir: string): Promise<void> {
  await timeCommand('sync', []);
  await waitForIdleDisk(dir);
}

/**
 * Runs a full garbage collection in this process, so that a timed pass does not pay for the garbage the untimed steps
 * before it left behind (generating the volume, hashing it into a snapshot: gigabytes of short-lived buffers). The
 * baselines run in fresh processes and need none. `--expose-gc` set at run time makes `gc` reachable from a new
 * context.
 */
export function settleHeap(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Quiet for this long counts as idle. */
const IDLE_MS = 200;
const POLL_MS = 25;

/**
 * Waits until the block device under `dir` has no I/O in flight and its busy time stops growing for IDLE_MS, or
 * `timeoutMs` passes (another process may keep it busy). Linux only (sysfs); elsewhere it returns at once.
 */
async function waitForIdleDisk(dir: string, timeoutMs = 15_000): Promise<void> {
  const { dev } = await stat(dir);
  const statFile = `/sys/dev/block/${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}/stat`;
  const deadline = performance.now() + timeoutMs;
  let quietSince = performance.now();
  let lastBusyMs = -1;
  while (performance.now() < deadline) {
    // Fields: … in_flight (9th) and io_ticks, the time the device was busy (10th).
    const fields = (await readFile(statFile, 'utf8').catch(() => '')).trim().split(/\s+/).map(Number);
    const [inFlight, busyMs] = [fields[8], fields[9]];
    if (inFlight === undefined || busyMs === undefined) return;
    if (inFlight > 0 || busyMs !== lastBusyMs) quietSince = performance.now();
    else if (performance.now() - quietSince >= IDLE_MS) return;
    lastBusyMs = busyMs;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
