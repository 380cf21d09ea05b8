import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunFollower } from '../../core/agent/follower.js';
import { handleOperation } from '../../core/agent/handle-operation.js';
import { RunStore } from '../../core/agent/run-store.js';
import { readSeed, seedBaseId } from '../../core/engine/seed.js';
import { SeedTooSmallError } from '../../core/errors.js';
import { SeedDiskCountMismatchError, SeedVmNotFoundError, SeedVmRunningError } from '../../core/onprem/errors.js';
import type { PlatformRun } from '../../core/onprem/platform.js';
import { VspherePlatform } from '../../core/onprem/vsphere-platform.js';
import { VsphereClient } from '../../core/vsphere/client.js';
import { createThinDisk, datastorePath, makeDatastoreDirectory } from '../../core/vsphere/disks.js';
import { findDatacenter, findVm } from '../../core/vsphere/inventory.js';
import { PRESERVED_FOLDER } from '../../core/vsphere/seed-disks.js';
import { powerOn, readVm } from '../../core/vsphere/vm.js';
import { VsphereTarget, type VsphereTargetConfig } from '../../core/vsphere/vsphere-target.js';
import { MemoryStaging } from '../support/memory-staging.js';
import { TEST_TEMP_ROOT_ENV } from '../support/temp-root.js';
import { startVcsim, VCSIM_START_TIMEOUT_MS, type Vcsim } from '../support/vcsim.js';

const MiB = 2 ** 20;
const signal = new AbortController().signal;
let vcsim: Vcsim;
let client: VsphereClient;
let config: VsphereTargetConfig;
let platform: VspherePlatform;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'vcsim-seed-'));
  vcsim = await startVcsim({ dir: join(dir, 'vcenter') });
  client = await VsphereClient.connect({ url: vcsim.url }, { username: vcsim.username, password: vcsim.password });
  const mount = vcsim.datastores.find((ds) => ds.name === 'LocalDS_0')?.dir;
  if (mount === undefined) throw new Error('vcsim has no LocalDS_0');
  config = {
    datacenter: 'DC0',
    datastore: 'LocalDS_0',
    datastoreMount: mount,
    network: 'VM Network',
    compute: 'DC0_C0',
  };
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, `${vcsim.password}\n`);
  platform = new VspherePlatform({
    endpoint: { url: vcsim.url },
    username: vcsim.username,
    passwordFile,
    target: config,
    wait: { until: 'power', timeoutMs: 10_000, pollMs: 50 },
  });
}, VCSIM_START_TIMEOUT_MS);

afterAll(async () => {
  await client?.logout();
  await vcsim?.stop();
});

/** An original VM on vcsim with disks of the given sizes, filled with random bytes; its flat files. */
async function originalVm(name: string, sizes: readonly number[], options: { on?: boolean } = {}) {
  const datacenter = await findDatacenter(client, 'DC0');
  await makeDatastoreDirectory(client, datacenter, datastorePath('LocalDS_0', `orig-${name}`));
  const disks = [];
  for (const [i, size] of sizes.entries()) {
    const fileName = datastorePath('LocalDS_0', `orig-${name}/disk-${i}.vmdk`);
    await createThinDisk(client, datacenter, fileName, size / 1024);
    const flatPath = join(config.datastoreMount, `orig-${name}`, `disk-${i}-flat.vmdk`);
    writeFileSync(flatPath, randomBytes(size));
    disks.push({ volumeId: `vol-${name}${i}`, fileName, flatPath, sizeBytes: size, created: true });
  }
  const target = await VsphereTarget.open(client, config);
  const vm = await target.ensureVm({ name, numCpus: 2, memoryMiB: 2048, disks, annotation: 'production database' });
  if (options.on) await powerOn(client, vm);
  return disks.map((disk) => disk.flatPath);
}

function run(runId: string, vm: string, sizes: readonly number[], powerOff = false): PlatformRun {
  return {
    runId,
    hosts: [{ hostId: 'i-1', name: vm, instanceType: 'm5.large', vCpus: 2, memoryMiB: 8192, seed: { vm, powerOff } }],
    volumes: sizes.map((sizeBytes, i) => ({
      volumeId: `vol-${vm}${i}`,
      hostId: 'i-1',
      volumeKey: `${vm}-${i}`,
      deviceIndex: i,
      sizeBytes,
    })),
  };
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const preservedDir = (runId: string) => join(config.datastoreMount, PRESERVED_FOLDER, runId);

describe('vsphere platform: a seed VM as the failback target', () => {
  it('refuses a seed disk smaller than its volume with SeedTooSmallError, before anything is written', async () => {
    const flats = await originalVm('small', [4 * MiB, 2 * MiB]);
    const before = flats.map(sha256);

    const refused = platform.prepare(run('run-small', 'small', [4 * MiB, 4 * MiB]), signal);

    await expect(refused).rejects.toBeInstanceOf(SeedTooSmallError);
    await expect(refused).rejects.toThrow(/orig-small\/disk-1\.vmdk.*2097152 bytes.*4194304 bytes/);
    expect(flats.map(sha256)).toEqual(before);
    expect(existsSync(preservedDir('run-small'))).toBe(false);
    const state = await readVm(client, await findVm(client, 'DC0', 'small'));
    expect(state.annotation).toBe('production database');
  });

  it('refuses a seed VM that is missing, has another disk count, or runs without powerOffSeed', async () => {
    await originalVm('two', [2 * MiB, 2 * MiB]);
    await originalVm('running', [2 * MiB], { on: true });

    await expect(platform.prepare(run('run-x', 'nosuchvm', [2 * MiB]), signal)).rejects.toBeInstanceOf(
      SeedVmNotFoundError,
    );
    await expect(platform.prepare(run('run-x', 'two', [2 * MiB]), signal)).rejects.toBeInstanceOf(
      SeedDiskCountMismatchError,
    );
    await expect(platform.prepare(run('run-x', 'running', [2 * MiB]), signal)).rejects.toBeInstanceOf(
      SeedVmRunningError,
    );
    const vm = await readVm(client, await findVm(client, 'DC0', 'running'));
    expect(vm.powerState).toBe('poweredOn');
    expect(existsSync(preservedDir('run-x'))).toBe(false);
  });

  it('powers the seed VM off, copies its disks to homebound-preserved/<runId>/ once, and returns them as the target disks', async () => {
    const flats = await originalVm('db', [2 * MiB, 3 * MiB], { on: true });
    const before = flats.map(sha256);

    const prepared = await platform.prepare(run('run-db', 'db', [2 * MiB, 3 * MiB], true), signal);

    expect(prepared.hosts).toEqual([{ hostId: 'i-1', name: 'db', powerState: 'poweredOff' }]);
    expect(prepared.disks.map((disk) => disk.path)).toEqual(flats);
    expect(prepared.disks.map((disk) => disk.seed?.preservedAs)).toEqual([
      '[LocalDS_0] homebound-preserved/run-db/db/disk-0.vmdk',
      '[LocalDS_0] homebound-preserved/run-db/db/disk-1.vmdk',
    ]);
    const copies = [0, 1].map((i) => join(preservedDir('run-db'), 'db', `disk-${i}-flat.vmdk`));
    expect(copies.map(sha256)).toEqual(before);
    const state = await readVm(client, await findVm(client, 'DC0', 'db'));
    expect(state.powerState).toBe('poweredOff');
    expect(state.annotation).toBe('production database\nhomebound-run: run-db');

    // The run writes the seed; a retried prepare must not copy the written disk over the preserved state.
    const handle = await open(flats[0] as string, 'r+');
    await handle.write(Buffer.alloc(4096, 7), 0, 4096, 0);
    await handle.close();
    await platform.prepare(run('run-db', 'db', [2 * MiB, 3 * MiB], true), signal);
    expect(copies.map(sha256)).toEqual(before);
    const [described] = await platform.describe(run('run-db', 'db', [2 * MiB, 3 * MiB], true), signal);
    expect(described?.disks.map((disk) => disk.volumeId)).toEqual(['vol-db0', 'vol-db1']);
    // The run's boot steps find the seed VM as the run's own.
    expect(await platform.inspect(run('run-db', 'db', [2 * MiB, 3 * MiB], true), signal)).toEqual([
      { hostId: 'i-1', name: 'db', powerState: 'poweredOff' },
    ]);
  });

  it('agent: hashes and publishes each seed with the run key, starts the journal at it, and never hashes it again', async () => {
    const flats = await originalVm('app', [2 * MiB]);
    const staging = new MemoryStaging();
    const stateDir = join(dir, 'agent-state');
    const follower = new RunFollower({ stagingAt: () => staging, bucket: 'memory', stateDir, pollMs: 20 });
    const context = { platform, store: await RunStore.open(stateDir), follower, stateDir, stagingAt: () => staging };
    const ackKey = randomBytes(32).toString('hex');
    const input = JSON.stringify({
      operation: 'PrepareTarget',
      runId: 'run-app',
      hosts: [
        {
          hostId: 'i-2',
          name: 'app',
          instanceType: 'm5.large',
          vCpus: 2,
          memoryMiB: 2048,
          seed: { vm: 'app', powerOff: false },
        },
      ],
      volumes: [{ hostId: 'i-2', volumeId: 'vol-app0', volumeKey: 'app-0', sizeBytes: 2 * MiB }],
      ackKey,
    });
    try {
      const result = await handleOperation(context, input, signal);

      const recordKey = 'runs/run-app/agent/volumes/app-0/seed.json';
      expect(result).toMatchObject({
        firstPass: { kind: 'seeded' },
        disks: [{ volumeKey: 'app-0', path: flats[0], seed: { recordKey, vm: 'app' } }],
      });
      const { record, hashes } = await readSeed(staging, recordKey, Buffer.from(ackKey, 'hex'));
      expect(record).toMatchObject({ seed: '[LocalDS_0] orig-app/disk-0.vmdk', seedSizeBytes: 2 * MiB, blockCount: 4 });
      const data = readFileSync(flats[0] as string);
      expect(hashes.subarray(0, 32)).toEqual(
        createHash('sha256')
          .update(data.subarray(0, 512 * 1024))
          .digest(),
      );
      const stored = await context.store.get('run-app');
      expect(stored?.disks[0]?.holdsSnapshotId).toBe(seedBaseId(record));

      // A retried PrepareTarget after the follower wrote the disk answers from the record: the same seed.
      await follower.stop('run-app');
      writeFileSync(flats[0] as string, randomBytes(2 * MiB));
      const again = await handleOperation(context, input, signal);
      expect(again).toMatchObject({ disks: [{ seed: { recordKey } }] });
      expect((await readSeed(staging, recordKey)).record.hashesSha256).toBe(record.hashesSha256);
      expect((await context.store.get('run-app'))?.disks[0]?.holdsSnapshotId).toBe(seedBaseId(record));

      // A rollback leaves the seed as written and says where its pre-failback state is and how to return to it.
      const rollback = await handleOperation(
        context,
        JSON.stringify({ operation: 'Rollback', runId: 'run-app' }),
        signal,
      );
      expect(rollback).toMatchObject({
        seeds: [
          {
            volumeKey: 'app-0',
            vm: 'app',
            disk: '[LocalDS_0] orig-app/disk-0.vmdk',
            preservedAs: '[LocalDS_0] homebound-preserved/run-app/app/disk-0.vmdk',
          },
        ],
        restoreSeeds: expect.stringContaining('copy each preservedAs disk back over its seed disk'),
      });
    } finally {
      await follower.stopAll();
    }
  });
});
