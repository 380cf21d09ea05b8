import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TargetDiskTooSmallError } from '../../core/onprem/platform.js';
import { VsphereClient } from '../../core/vsphere/client.js';
import {
  DatacenterNotFoundError,
  DatastoreMountMismatchError,
  DatastoreNotFoundError,
  FailbackVmConflictError,
  GuestNotUpError,
  NetworkNotFoundError,
  ResourcePoolNotFoundError,
  VmNotFoundError,
} from '../../core/vsphere/errors.js';
import { findVm } from '../../core/vsphere/inventory.js';
import { DISK_FOLDER } from '../../core/vsphere/target-disks.js';
import { powerOn, readVm, setDiskMode } from '../../core/vsphere/vm.js';
import { VsphereTarget, type VsphereTargetConfig } from '../../core/vsphere/vsphere-target.js';
import { TEST_TEMP_ROOT_ENV } from '../support/temp-root.js';
import { startVcsim, VCSIM_START_TIMEOUT_MS, type Vcsim } from '../support/vcsim.js';

const MiB = 1024 * 1024;
let vcsim: Vcsim;
let client: VsphereClient;
let config: VsphereTargetConfig;
let target: VsphereTarget;

beforeAll(async () => {
  vcsim = await startVcsim({ dir: mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'vcsim-target-')) });
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
  target = await VsphereTarget.open(client, config);
}, VCSIM_START_TIMEOUT_MS);

afterAll(async () => {
  await client?.logout();
  await vcsim?.stop();
});

function flat(volumeId: string): string {
  return join(config.datastoreMount, DISK_FOLDER, `${volumeId}-flat.vmdk`);
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Writes a recognisable pattern at the start and end of a flat file, as the applier would. */
async function writePattern(path: string, seed: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const size = (await handle.stat()).size;
    const block = Buffer.alloc(4096, seed);
    await handle.write(block, 0, block.length, 0);
    await handle.write(block, 0, block.length, size - block.length);
  } finally {
    await handle.close();
  }
}

async function vmWithDisks(name: string, volumes: readonly string[]) {
  const disks = await target.ensureDisks(volumes.map((volumeId) => ({ volumeId, sizeBytes: 8 * MiB })));
  for (const disk of disks) await writePattern(disk.flatPath, disk.volumeId.slice(-1));
  const vm = await target.ensureVm({ name, numCpus: 2, memoryMiB: 4096, disks, annotation: `homebound run r-${name}` });
  return { vm, disks };
}

describe('vSphere target › open', () => {
  it('names the object a wrong configuration points at, before anything is made', async () => {
    // open() in beforeAll made the (still empty) disk folder; a failed open must not make it again.
    rmSync(join(config.datastoreMount, DISK_FOLDER), { recursive: true });
    await expect(VsphereTarget.open(client, { ...config, datacenter: 'DC9' })).rejects.toBeInstanceOf(
      DatacenterNotFoundError,
    );
    await expect(VsphereTarget.open(client, { ...config, datastore: 'NoDS' })).rejects.toBeInstanceOf(
      DatastoreNotFoundError,
    );
    await expect(VsphereTarget.open(client, { ...config, network: 'No Net' })).rejects.toBeInstanceOf(
      NetworkNotFoundError,
    );
    await expect(
      VsphereTarget.open(client, { ...config, compute: 'DC0_C0', resourcePool: 'nope' }),
    ).rejects.toBeInstanceOf(ResourcePoolNotFoundError);
    expect(existsSync(join(config.datastoreMount, DISK_FOLDER))).toBe(false);
  });

  it('refuses a datastoreMount that is not the datastore (DatastoreMountMismatchError), so no disk is written elsewhere', async () => {
    const elsewhere = mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'not-the-datastore-'));
    // A disk folder that merely exists there (a copy, an old run) is no proof.
    mkdirSync(join(elsewhere, DISK_FOLDER));
    await expect(VsphereTarget.open(client, { ...config, datastoreMount: elsewhere })).rejects.toBeInstanceOf(
      DatastoreMountMismatchError,
    );
    await VsphereTarget.open(client, config);
    // The probe folders made through vSphere are removed again, after a failed check as after a good one.
    expect(
      readdirSync(join(config.datastoreMount, DISK_FOLDER)).filter((name) => name.startsWith('.mount-check')),
    ).toEqual([]);
  });
});

describe('vSphere target › disks', () => {
  it('creates a thin disk per volume whose flat file has the volume size, and reuses it on the next call', async () => {
    const first = await target.ensureDisks([
      { volumeId: 'vol-a1', sizeBytes: 16 * MiB },
      { volumeId: 'vol-a2', sizeBytes: 4 * MiB + 512 },
    ]);
    expect(first.map((d) => [d.fileName, d.created, d.sizeBytes])).toEqual([
      ['[LocalDS_0] homebound-disks/vol-a1.vmdk', true, 16 * MiB],
      ['[LocalDS_0] homebound-disks/vol-a2.vmdk', true, 4 * MiB + 1024],
    ]);
    expect(statSync(flat('vol-a1')).size).toBe(16 * MiB);
    expect(statSync(flat('vol-a2')).size).toBe(4 * MiB + 1024);
    await writePattern(flat('vol-a1'), 'x');
    const before = sha256(flat('vol-a1'));

    const again = await target.ensureDisks([{ volumeId: 'vol-a1', sizeBytes: 12 * MiB }]);

    expect(again).toEqual([expect.objectContaining({ volumeId: 'vol-a1', created: false, sizeBytes: 16 * MiB })]);
    expect(sha256(flat('vol-a1'))).toBe(before);
  });

  it('refuses an existing disk smaller than its volume with TargetDiskTooSmallError and makes none of the others', async () => {
    await target.ensureDisks([{ volumeId: 'vol-small', sizeBytes: 4 * MiB }]);
    const error = await target
      .ensureDisks([
        { volumeId: 'vol-new', sizeBytes: 4 * MiB },
        { volumeId: 'vol-small', sizeBytes: 8 * MiB },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetDiskTooSmallError);
    expect(error).toMatchObject({ volumeId: 'vol-small', diskBytes: 4 * MiB, volumeBytes: 8 * MiB });
    expect(existsSync(flat('vol-new'))).toBe(false);
    expect(statSync(flat('vol-small')).size).toBe(4 * MiB);
  });
});

describe('vSphere target › failback VMs', () => {
  it('makes the VM powered off with its disks in device order (boot first), and returns the same VM when asked again', async () => {
    const { vm, disks } = await vmWithDisks('fb-ensure', ['vol-b0', 'vol-b1', 'vol-b2']);
    const described = await target.describe(vm);
    expect(described).toMatchObject({ name: 'fb-ensure', powerState: 'poweredOff', numCPU: 2, memoryMiB: 4096 });
    expect(described.disks.map((d) => [d.fileName, d.diskMode, d.sizeBytes])).toEqual([
      ['[LocalDS_0] homebound-disks/vol-b0.vmdk', 'persistent', 8 * MiB],
      ['[LocalDS_0] homebound-disks/vol-b1.vmdk', 'persistent', 8 * MiB],
      ['[LocalDS_0] homebound-disks/vol-b2.vmdk', 'persistent', 8 * MiB],
    ]);
    const again = await target.ensureVm({ name: 'fb-ensure', numCpus: 2, memoryMiB: 4096, disks, annotation: 'x' });
    expect(again).toEqual(vm);
  });

  it('refuses a VM of the same name with other disks (FailbackVmConflictError)', async () => {
    const { disks } = await vmWithDisks('fb-conflict', ['vol-c0', 'vol-c1']);
    const swapped = [...disks].reverse();
    await expect(
      target.ensureVm({ name: 'fb-conflict', numCpus: 2, memoryMiB: 4096, disks: swapped, annotation: 'x' }),
    ).rejects.toBeInstanceOf(FailbackVmConflictError);
  });

  it('verification boot: up with every disk independent_nonpersistent, then off and persistent, disks unchanged', async () => {
    const { vm, disks } = await vmWithDisks('fb-verify', ['vol-d0', 'vol-d1']);
    const hashes = disks.map((d) => sha256(d.flatPath));

    const whileUp = await target.verificationBoot(vm, { until: 'power', pollMs: 50 });

    expect(whileUp.powerState).toBe('poweredOn');
    expect(whileUp.disks.map((d) => d.diskMode)).toEqual(['independent_nonpersistent', 'independent_nonpersistent']);
    const after = await readVm(client, vm);
    expect(after.powerState).toBe('poweredOff');
    expect(after.disks.map((d) => d.diskMode)).toEqual(['persistent', 'persistent']);
    expect(disks.map((d) => sha256(d.flatPath))).toEqual(hashes);
  });

  it('verification boot waiting for VMware Tools fails with GuestNotUpError on vcsim (no guest), leaving the VM off and persistent', async () => {
    const { vm } = await vmWithDisks('fb-noguest', ['vol-e0']);
    const error = await target
      .verificationBoot(vm, { until: 'tools', timeoutMs: 300, pollMs: 50 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GuestNotUpError);
    expect(error).toMatchObject({ toolsRunningStatus: 'guestToolsNotRunning' });
    const after = await readVm(client, vm);
    expect(after.powerState).toBe('poweredOff');
    expect(after.disks.map((d) => d.diskMode)).toEqual(['persistent']);
  });

  it('cutover powers the VM on with persistent disks; again is a no-op; powerOff is idempotent', async () => {
    const { vm } = await vmWithDisks('fb-cutover', ['vol-f0']);
    const up = await target.cutover(vm, { until: 'power', pollMs: 50 });
    expect(up.powerState).toBe('poweredOn');
    expect(up.disks.map((d) => d.diskMode)).toEqual(['persistent']);
    expect((await target.cutover(vm, { until: 'power', pollMs: 50 })).powerState).toBe('poweredOn');
    expect(await target.powerOff(vm)).toBe(true);
    expect(await target.powerOff(vm)).toBe(false);
    expect((await readVm(client, vm)).powerState).toBe('poweredOff');
  });

  it('cutover of a VM left up by a cut-short verification boot restarts it on persistent disks', async () => {
    const { vm } = await vmWithDisks('fb-cutshort', ['vol-h0', 'vol-h1']);
    for (const disk of (await readVm(client, vm)).disks) {
      await setDiskMode(client, vm, disk, 'independent_nonpersistent');
    }
    await powerOn(client, vm);

    const up = await target.cutover(vm, { until: 'power', pollMs: 50 });

    expect(up.powerState).toBe('poweredOn');
    expect(up.disks.map((d) => d.diskMode)).toEqual(['persistent', 'persistent']);
  });

  it('removes a VM but keeps its disks and their bytes (detached before destroy)', async () => {
    const { vm, disks } = await vmWithDisks('fb-remove', ['vol-g0', 'vol-g1']);
    await target.cutover(vm, { until: 'power', pollMs: 50 });
    const hashes = disks.map((d) => sha256(d.flatPath));

    await target.removeVmKeepingDisks(vm);

    await expect(findVm(client, 'DC0', 'fb-remove')).rejects.toBeInstanceOf(VmNotFoundError);
    expect(disks.map((d) => sha256(d.flatPath))).toEqual(hashes);
    // The next run reuses them.
    const reused = await target.ensureDisks(disks.map((d) => ({ volumeId: d.volumeId, sizeBytes: 8 * MiB })));
    expect(reused.map((d) => d.created)).toEqual([false, false]);
  });
});

describe('vSphere target › disk names', () => {
  it('refuses a volume id that is not a plain file name (no path traversal on the datastore)', async () => {
    await expect(target.ensureDisks([{ volumeId: '../etc', sizeBytes: MiB }])).rejects.toThrow(/cannot name a disk/);
    expect(existsSync(join(config.datastoreMount, 'etc-flat.vmdk'))).toBe(false);
  });
});
