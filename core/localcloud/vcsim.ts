import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { HomeboundError } from '../errors.js';

/**
 * govmomi's vCenter simulator (tools/vcsim/main.go) as the local on-prem site's vCenter: the drill and the tests
 * start it here. It is built from source on first use in a checkout (scripts/build-vcsim.sh: Go and Debian's
 * govmomi sources, offline) and cached by the hash of main.go.
 */

const repoRoot = join(import.meta.dirname, '..', '..');

/** The Debian packages the build needs; named in VcsimToolsMissingError. */
export const VCSIM_BUILD_PACKAGES = ['golang-go', 'golang-github-vmware-govmomi-dev'] as const;

/** For a beforeAll that starts vcsim: the first start in a checkout compiles it, on a busy 2-core CI machine too. */
export const VCSIM_START_TIMEOUT_MS = 240_000;

/** The simulator cannot be built here: Go or govmomi's sources are missing. */
export class VcsimToolsMissingError extends HomeboundError {
  constructor(readonly detail: string) {
    super(
      `cannot build the vCenter simulator (vcsim): ${detail}; install them with \`apt-get install ${VCSIM_BUILD_PACKAGES.join(' ')}\``,
    );
  }
}

/** The simulator's build or start failed for another reason (the message carries its output's tail). */
export class VcsimStartError extends HomeboundError {}

/** What `tools/vcsim/main.go` prints once it listens. */
const readyLineSchema = z.object({
  url: z.url(),
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

/** Where the build looks; the defaults are the checkout's cache and Debian's GOPATH. */
export interface VcsimBuildOptions {
  /** @default <checkout>/.cache/homebound */
  readonly cacheDir?: string;
  /** Holds src/github.com/vmware/govmomi. @default /usr/share/gocode */
  readonly gopath?: string;
}

/**
 * The vcsim binary's path, built by scripts/build-vcsim.sh on first use in a checkout and cached by the hash of its
 * source (about 20 s the first time, a sha256sum afterwards). Asynchronous, so servers in this process keep
 * answering while it builds.
 * @throws VcsimToolsMissingError naming the Debian packages to install; VcsimStartError when the build fails
 */
export async function ensureVcsim(options: VcsimBuildOptions = {}): Promise<string> {
  const script = join(repoRoot, 'scripts', 'build-vcsim.sh');
  const env = {
    ...process.env,
    ...(options.cacheDir === undefined ? {} : { VCSIM_CACHE_DIR: options.cacheDir }),
    ...(options.gopath === undefined ? {} : { VCSIM_GOPATH: options.gopath }),
  };
  return new Promise((resolve, reject) => {
    execFile('bash', [script], { encoding: 'utf8', env, maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) => {
      if (error === null) return resolve(stdout.trim());
      const tail = stderr.trim().split('\n').slice(-20).join('\n');
      if (error.code === 3) return reject(new VcsimToolsMissingError(tail));
      reject(new VcsimStartError(`building vcsim failed (${String(error.code ?? error.signal)}): ${tail}`));
    });
  });
}

/** Options of `startVcsim`. */
export interface VcsimOptions {
  /** Where the datastores' files are made (created when absent). */
  readonly dir: string;
  /** The only login vcsim accepts. @default homebound / vcsim-Secret-1 */
  readonly username?: string;
  readonly password?: string;
  /** Serve HTTPS with a self-signed certificate. @default false (plain HTTP) */
  readonly tls?: boolean;
}

/**
 * Starts one vCenter simulator (govmomi's VPX model: DC0, cluster DC0_C0 with hosts, standalone host DC0_H0,
 * datastore LocalDS_0, networks `VM Network` and DC0_DVPG0, two VMs per pool) whose datastores live under `dir`, and
 * which accepts only `username`/`password`. One per process: the simulator's inventory is process-wide state there,
 * and this process holds its stdin, so it stops when this process dies, SIGKILL included.
 * @throws VcsimToolsMissingError, VcsimStartError
 */
export async function startVcsim(options: VcsimOptions): Promise<Vcsim> {
  const username = options.username ?? 'homebound';
  const password = options.password ?? 'vcsim-Secret-1';
  await mkdir(options.dir, { recursive: true });
  const args = ['-dir', options.dir, '-username', username, '-password', password, '-stdin-lifeline'];
  if (options.tls === true) args.push('-tls');
  // stdin is vcsim's lifeline: when this process dies, even by SIGKILL, the pipe closes and vcsim stops.
  const child = spawn(await ensureVcsim(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const exited = once(child, 'exit');
  try {
    const line = await Promise.race([
      firstLine(child),
      exited.then(([code]) => {
        throw new VcsimStartError(`vcsim exited with ${String(code)} before it listened: ${stderr}`);
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
  if (child.stdout === null) throw new VcsimStartError('vcsim has no stdout');
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    if (line.trim() !== '') return line;
  }
  throw new VcsimStartError('vcsim closed its stdout before printing its ready line');
}
