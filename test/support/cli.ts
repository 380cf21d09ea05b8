import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';

/** The `homebound` entry point, run with this test's Node (22). */
export const CLI = join(import.meta.dirname, '../../bin/homebound.mjs');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** How to run the CLI beyond its arguments and extra environment. */
export interface CliOptions {
  /** Use only `env`, not this process's environment too (an operator's bare shell). @default false */
  readonly bareEnv?: boolean;
  /** Run as this user and group id, e.g. so that root, which ignores file modes, does not hide a read-only path. */
  readonly uid?: number;
  /** Node options before the entry point, e.g. `--import`. @default none */
  readonly nodeArgs?: readonly string[];
}

/** Starts `homebound <args>` as its own process; `done` settles when it exits (code null when killed). */
export function startCli(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  options: CliOptions = {},
): { child: ChildProcessWithoutNullStreams; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], {
    env: options.bareEnv ? { ...env } : { ...process.env, ...env },
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const done = new Promise<CliResult>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

/** Runs `homebound <args>` to completion. */
export function runCli(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  options: CliOptions = {},
): Promise<CliResult> {
  return startCli(args, env, options).done;
}
