import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { hasGatewayConfig, parseGatewayUserData } from '../gateway/config.js';
import type { BootContext, BootedHost, HostBootstrap } from './local-boot.js';

/** The `homebound` entry point, run with this process's Node, as the gateway's systemd unit runs it on EC2. */
const CLI = join(import.meta.dirname, '../../bin/homebound.mjs');

export interface GatewayBootstrapOptions {
  /** Environment of the gateway processes on top of this one's: the local cloud's endpoints, Region and key pair. */
  readonly env: Readonly<Record<string, string>>;
  /** Every output line of the gateways, prefixed with the host id, and the bootstrap's own notes. */
  readonly onOutput?: (line: string) => void;
  /** Wait before restarting a crashed gateway (systemd RestartSec). @default 1000 */
  readonly restartDelayMs?: number;
  /** Told of each restart after a crash, with how many the host's gateway has had (so a drill can report them). */
  readonly onRestart?: (hostId: string, restarts: number) => void;
  /** Restarts after crashes before giving up (systemd StartLimitBurst). @default 5 */
  readonly maxRestarts?: number;
  /** After SIGTERM, how long a gateway may take to exit before SIGKILL. @default 10000 */
  readonly stopTimeoutMs?: number;
}

const NOTHING_TO_STOP: BootedHost = { stop: async () => undefined };

/**
 * A HostBootstrap doing what the gateway user data does on EC2: for a host whose user data carries a gateway config,
 * writes it to `<host stateDir>/gateway.json` and runs `homebound gateway --config … --state-dir … --device-dir …
 * --instance-arn <the host's ARN>`
 * as a child process, restarted after a crash (non-zero exit or unexpected signal) like systemd's Restart=on-failure.
 * Other hosts get no process; a host whose gateway config is invalid neither (reported through `onOutput`, as its
 * service would fail on EC2). `stop()` sends SIGTERM and resolves once the process has exited.
 */
export function gatewayBootstrap(options: GatewayBootstrapOptions): HostBootstrap {
  return async (context) => {
    if (!hasGatewayConfig(context.userData)) return NOTHING_TO_STOP;
    let config: ReturnType<typeof parseGatewayUserData>;
    try {
      config = parseGatewayUserData(context.userData);
    } catch (error) {
      options.onOutput?.(`[${context.hostId}] gateway not started: ${(error as Error).message}`);
      return NOTHING_TO_STOP;
    }
    const configPath = join(context.stateDir, 'gateway.json');
    // It holds the run's gateway key, as /etc/homebound/gateway.json does on EC2 (umask 077).
    await writeFile(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
    return new GatewayService(context, configPath, options);
  };
}

/** One host's gateway process and its restarts. */
class GatewayService implements BootedHost {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(
    private readonly context: BootContext,
    private readonly configPath: string,
    private readonly options: GatewayBootstrapOptions,
  ) {
    this.spawn();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), this.options.stopTimeoutMs ?? 10_000);
      try {
        await this.exited;
      } finally {
        clearTimeout(kill);
      }
    }
  }

  private spawn(): void {
    const { deviceDir, stateDir, hostId, instanceArn } = this.context;
    // No instance metadata service here: the host's ARN comes on the command line (on EC2 the gateway asks IMDSv2).
    const args = [
      CLI,
      'gateway',
      '--config',
      this.configPath,
      '--state-dir',
      stateDir,
      '--device-dir',
      deviceDir,
      '--instance-arn',
      instanceArn,
    ];
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.output(line));
    }
    this.exited = new Promise((resolve) => {
      child.once('error', (error) => {
        this.output(`gateway process failed to start: ${error.message}`);
        resolve();
      });
      child.once('exit', (code, signal) => {
        resolve();
        this.onExit(code, signal);
      });
    });
    this.output(`gateway started (pid ${child.pid ?? '?'}) for host ${hostId}`);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping || code === 0) return;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const maxRestarts = this.options.maxRestarts ?? 5;
    if (this.restarts >= maxRestarts) {
      this.output(`gateway exited with ${how}; not restarting (${maxRestarts} restarts used)`);
      return;
    }
    this.restarts += 1;
    this.options.onRestart?.(this.context.hostId, this.restarts);
    const delayMs = this.options.restartDelayMs ?? 1000;
    this.output(`gateway exited with ${how}; restarting in ${delayMs} ms (restart ${this.restarts} of ${maxRestarts})`);
    this.restartTimer = setTimeout(() => {
      if (!this.stopping) this.spawn();
    }, delayMs);
  }

  private output(line: string): void {
    this.options.onOutput?.(`[${this.context.hostId}] ${line}`);
  }
}
