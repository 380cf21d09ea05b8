import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../core/localcloud/local-volume.js';
import {
  TargetDiskInUseError,
  TargetDiskMissingError,
  TargetDiskNotConfiguredError,
} from '../../core/onprem/errors.js';
import { ManualPlatform } from '../../core/onprem/manual-platform.js';
import { mountOf } from '../../core/onprem/mounts.js';
import { type PlatformRun, TargetDiskTooSmallError } from '../../core/onprem/platform.js';

const MiB = 2 ** 20;
const signal = new AbortController().signal;

function run(volumes: { volumeId: string; sizeBytes: number }[]): PlatformRun {
  return {
    runId: 'run-1',
    hosts: [{ hostId: 'i-1', name: 'db', instanceType: 'm5.large', vCpus: 2, memoryMiB: 8192 }],
    volumes: volumes.map((volume, index) => ({
      ...volume,
      hostId: 'i-1',
      volumeKey: `db-${index}`,
      deviceIndex: index,
    })),
  };
}

describe('manual platform', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hb-manual-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('reuses an existing image, creates a sparse one when asked, and returns each path', async () => {
    const existing = join(dir, 'existing.img');
    const created = join(dir, 'created.img');
    await createVolume(existing, 8 * MiB);
    const platform = new ManualPlatform({
      disks: { 'vol-a': { path: existing }, 'vol-b': { path: created, create: true } },
    });

    const prepared = await platform.prepare(
      run([
        { volumeId: 'vol-a', sizeBytes: 4 * MiB },
        { volumeId: 'vol-b', sizeBytes: 3 * MiB },
      ]),
      signal,
    );

    expect(prepared.disks).toEqual([
      { volumeId: 'vol-a', volumeKey: 'db-0', path: existing, sizeBytes: 8 * MiB, created: false, location: existing },
      { volumeId: 'vol-b', volumeKey: 'db-1', path: created, sizeBytes: 3 * MiB, created: true, location: created },
    ]);
    const made = await stat(created);
    expect(made.size).toBe(3 * MiB);
    expect(made.blocks).toBe(0);
    expect(prepared.hosts).toEqual([{ hostId: 'i-1', name: 'db', powerState: 'unknown' }]);
  });

  it('refuses a disk smaller than its volume, naming it, and creates nothing for the other volumes', async () => {
    const small = join(dir, 'small.img');
    const later = join(dir, 'later.img');
    await createVolume(small, 2 * MiB);
    const platform = new ManualPlatform({
      disks: { 'vol-a': { path: later, create: true }, 'vol-b': { path: small } },
    });

    const error = await platform
      .prepare(
        run([
          { volumeId: 'vol-a', sizeBytes: MiB },
          { volumeId: 'vol-b', sizeBytes: 4 * MiB },
        ]),
        signal,
      )
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(TargetDiskTooSmallError);
    expect(error).toMatchObject({ name: 'TargetDiskTooSmallError', disk: small, diskBytes: 2 * MiB });
    await expect(stat(later)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('names a volume without a configured disk, and a missing disk that is not to be created', async () => {
    const platform = new ManualPlatform({ disks: { 'vol-a': { path: join(dir, 'absent.img') } } });

    await expect(platform.prepare(run([{ volumeId: 'vol-z', sizeBytes: MiB }]), signal)).rejects.toBeInstanceOf(
      TargetDiskNotConfiguredError,
    );
    await expect(platform.prepare(run([{ volumeId: 'vol-a', sizeBytes: MiB }]), signal)).rejects.toBeInstanceOf(
      TargetDiskMissingError,
    );
  });

  it('refuses a disk that is mounted (read from the mount table)', async () => {
    const device = join(dir, 'sdb');
    await createVolume(device, 4 * MiB);
    const mounts = join(dir, 'mounts');
    // A partition of the disk is mounted at a path with a space (escaped as \040 in the table).
    await writeFile(mounts, `/dev/root / ext4 rw 0 0\n${device}1 /srv/old\\040data ext4 rw 0 0\n`);
    const platform = new ManualPlatform({ disks: { 'vol-a': { path: device } }, mountsFile: mounts });

    const error = await platform.prepare(run([{ volumeId: 'vol-a', sizeBytes: MiB }]), signal).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TargetDiskInUseError);
    expect(error).toMatchObject({ mountPoint: '/srv/old data' });
    expect(await mountOf(join(dir, 'sdb'), join(dir, 'absent-table'))).toBeUndefined();
  });

  it('cannot boot anything: boot steps ask for an operator, rollback powers nothing off', async () => {
    const platform = new ManualPlatform({ disks: { 'vol-a': { path: join(dir, 'a.img'), create: true } } });
    const theRun = run([{ volumeId: 'vol-a', sizeBytes: MiB }]);

    const boot = await platform.verificationBoot(theRun);
    const cutover = await platform.cutover(theRun);
    const verify = await platform.verify(theRun);
    const rollback = await platform.rollback();
    const hosts = await platform.describe(theRun);

    for (const outcome of [boot, cutover, verify]) expect(outcome.confirmation).toBe('operator');
    expect(cutover).toMatchObject({ instructions: expect.stringContaining('power on the failback hosts (db)') });
    expect(rollback).toEqual({ poweredOff: [] });
    expect(hosts).toEqual([
      {
        name: 'db',
        powerState: 'unknown',
        numCPU: 2,
        memoryMiB: 8192,
        disks: [{ volumeId: 'vol-a', location: join(dir, 'a.img'), sizeBytes: MiB }],
      },
    ]);
  });
});
