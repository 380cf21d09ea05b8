import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { HomeboundError } from '../errors.js';

/**
 * `homebound agent --config …` as its own process, as it runs on-prem: the local on-prem site starts, SIGKILLs and
 * restarts it for the drill and the tests. Its stderr (the agent's log) is appended to a file and kept in memory.
 */

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'homebound.mjs');

/** The agent did not log a line in time, or exited first. The message carries the end of its log. */
export class AgentProcessError extends HomeboundError {}

export interface AgentProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly pid: number | undefined;
  /** What the agent logged so far (stderr). */
  log(): string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Waits until the log matches `pattern`.
   * @throws AgentProcessError when the process exits first or `timeoutMs` passes
   */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after `graceMs` (default 15 s). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface AgentProcessOptions {
  readonly configPath: string;
  /** The agent's whole environment (nothing of this process's is passed on except PATH and HOME). */
  readonly env: Readonly<Record<string, string>>;
  /** File the agent's log is appended to. */
  readonly logFile: string;
}

/** Starts the agent; resolves once it polls the activity (its `polling …` line). */
export async function startAgentProcess(options: AgentProcessOptions, readyTimeoutMs = 60_000): Promise<AgentProcess> {
  const child = spawn(process.execPath, [CLI, 'agent', '--config', options.configPath], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    const piece = chunk.toString('utf8');
    text += piece;
    appendFileSync(options.logFile, piece);
    for (const wake of waiters) wake();
  };
  child.stderr.on('data', onData);
  child.stdout.on('data', onData);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      for (const wake of waiters) wake();
      resolve({ code, signal });
    });
  });
  const waitForLog = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(text)) return finish();
        if (done) finish(new AgentProcessError(`the agent exited before logging ${pattern}: ${tail(text)}`));
      };
      const timer = setTimeout(
        () => finish(new AgentProcessError(`the agent did not log ${pattern} in ${timeoutMs} ms: ${tail(text)}`)),
        timeoutMs,
      );
      const finish = (error?: Error) => {
        clearTimeout(timer);
        waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      waiters.add(check);
      check();
    });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000) => {
    if (!done) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited.finally(() => clearTimeout(timer));
    }
    return exited;
  };
  const agent: AgentProcess = { child, pid: child.pid, log: () => text, exited, waitForLog, stop };
  try {
    await waitForLog(/polling /, readyTimeoutMs);
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
  return agent;
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-15).join('\n');
}
