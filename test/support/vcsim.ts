import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What `tools/vcsim/main.go` prints once it listens. */
const readyLineSchema = z.object({
  url: z.string().url(),
  datastores: z.array(z.object({ name: z.string(), dir: z.string() })).min(1),
  certificate: z.string().optional(),
});

export interface Vcsim {
  /** The SDK endpoint, e.g. http://127.0.0.1:PORT/sdk (plain HTTP: vcsim without TLS). */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** Each datastore's name and the local directory holding its files (inside the `dir` given to startVcsim). */
  readonly datastores: readonly { readonly name: string; readonly dir: string }[];
  /** With `tls`: the server's self-signed certificate (PEM), to trust as a CA. */
  readonly certificate: string | undefined;
  /** SIGTERM, then wait for the exit. The datastore directories stay for inspection. */
  stop(): Promise<void>;
}

/** For a beforeAll that starts vcsim: the first start in a checkout compiles it, on a busy 2-core CI machine too. */
export const VCSIM_START_TIMEOUT_MS = 240_000;

/**
 * The vcsim binary's path, built by scripts/build-vcsim.sh on first use in a checkout and cached by the hash of its
 * source (about 20 s the first time, a sha256sum afterwards).
 */
export function ensureVcsim(): string {
  return execFileSync('bash', [join(repoRoot, 'scripts', 'build-vcsim.sh')], { encoding: 'utf8' }).trim();
}

/**
 * Starts one vCenter simulator (govmomi's VPX model: DC0, cluster DC0_C0 with hosts, standalone host DC0_H0,
 * datastore LocalDS_0, networks `VM Network` and DC0_DVPG0, two VMs per pool) whose datastores live under `dir`, and
 * which accepts only `username`/`password`. One per test file: the simulator's inventory is process-wide state.
 */
export async function startVcsim(options: {
  dir: string;
  username?: string;
  password?: string;
  /** Serve HTTPS with a self-signed certificate. Default false (plain HTTP). */
  tls?: boolean;
}): Promise<Vcsim> {
  const username = options.username ?? 'homebound';
  const password = options.password ?? 'vcsim-Secret-1';
  mkdirSync(options.dir, { recursive: true });
  const args = ['-dir', options.dir, '-username', username, '-password', password, '-stdin-lifeline'];
  if (options.tls === true) args.push('-tls');
  // stdin is vcsim's lifeline: when this process dies, even by SIGKILL, the pipe closes and vcsim stops.
  const child = spawn(ensureVcsim(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const exited = once(child, 'exit');
  try {
    const line = await Promise.race([
      firstLine(child),
      exited.then(([code]) => {
        throw new Error(`vcsim exited with ${String(code)} before it listened: ${stderr}`);
      }),
    ]);
    const ready = readyLineSchema.parse(JSON.parse(line));
    return {
      url: ready.url,
      username,
      password,
      datastores: ready.datastores,
      certificate: ready.certificate,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await exited;
        }
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

async function firstLine(child: ChildProcess): Promise<string> {
  if (child.stdout === null) throw new Error('vcsim has no stdout');
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    if (line.trim() !== '') return line;
  }
  throw new Error('vcsim closed its stdout before printing its ready line');
}
