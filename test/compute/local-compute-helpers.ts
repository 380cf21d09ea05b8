import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCompute } from '../../core/compute/local-compute.js';
import type { HostState } from '../../core/compute/port.js';
import { SnapshotStore } from '../../core/localcloud/snapshot-store.js';

export const MiB = 1024 * 1024;

export interface ComputeFixture {
  readonly dir: string;
  readonly stateDir: string;
  readonly store: SnapshotStore;
  readonly compute: LocalCompute;
  cleanup(): Promise<void>;
}

/** A LocalCompute over a fresh snapshot store in a temp dir; `cleanup` stops its workloads and removes the dir. */
export async function computeFixture(): Promise<ComputeFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'hb-compute-'));
  const store = await SnapshotStore.open(join(dir, 'ebs'));
  const stateDir = join(dir, 'compute');
  const compute = new LocalCompute({ stateDir, store });
  return {
    dir,
    stateDir,
    store,
    compute,
    cleanup: async () => {
      await compute.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` holds, as the state machine's Wait states do; fails after `timeoutMs`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function hostState(compute: LocalCompute, hostId: string): Promise<HostState | undefined> {
  const [host] = await compute.describeHosts({ hostIds: [hostId] });
  return host?.state;
}
