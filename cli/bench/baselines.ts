import { spawn } from 'node:child_process';
import { utimes } from 'node:fs/promises';
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
 * Flushes every dirty page to disk (sync(1)) so that no contender pays for another's writes: on ext4 an fsync can
 * wait for unrelated dirty data, e.g. the gigabyte `cp` just wrote.
 */
export async function flushDirtyPages(): Promise<void> {
  await timeCommand('sync', []);
}
