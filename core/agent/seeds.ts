import { hashSeed, publishSeed, seedBaseId } from '../engine/seed.js';
import { InvalidInputError } from '../errors.js';
import { GATEWAY_VOLUMES_DIR, seedRecordKey } from '../gateway/scope.js';
import type { PreparedDisk } from '../onprem/platform.js';
import type { Staging } from '../ports.js';
import type { PrepareTargetInput } from './operations.js';
import type { RunRecord } from './run-store.js';

/** A seed disk's published hash list, as the run record keeps it (`baseId` its journal's start). */
export interface PublishedSeed {
  readonly vm: string;
  readonly preservedAs: string;
  readonly recordKey: string;
  readonly baseId: string;
}

/**
 * Hashes each seed disk the platform returned (SHA-256 per 512 KiB block of the volume's size, core/engine/seed.ts)
 * and publishes the hash list and its MACed record to the store at `<recordsPrefix>volumes/<volumeKey>/seed.json`,
 * before PrepareTarget completes, so StreamPass never waits for it on-prem. The activity worker heartbeats meanwhile.
 * A disk this run's record already holds a seed for is never hashed again: the follower may have written it since.
 * @throws InvalidInputError when the agent has no store to publish to; SeedTooSmallError; the store's errors
 */
export async function publishSeeds(
  stagingAt: ((prefix: string) => Staging) | undefined,
  input: PrepareTargetInput & { readonly recordsPrefix: string },
  existing: RunRecord | undefined,
  disks: readonly PreparedDisk[],
  signal: AbortSignal,
): Promise<Map<string, PublishedSeed>> {
  const seeds = new Map<string, PublishedSeed>();
  const { recordsPrefix } = input;
  for (const disk of disks) {
    if (disk.seed === undefined) continue;
    const recorded = existing?.disks.find((candidate) => candidate.volumeKey === disk.volumeKey);
    if (recorded?.seed && recorded.holdsSnapshotId) {
      seeds.set(disk.volumeKey, { ...recorded.seed, baseId: recorded.holdsSnapshotId });
      continue;
    }
    if (!stagingAt) {
      throw new InvalidInputError(
        `PrepareTarget: volume ${disk.volumeKey} is seeded but this agent has no store to publish its hash list to`,
      );
    }
    const volume = input.volumes.find((candidate) => candidate.volumeKey === disk.volumeKey);
    if (volume === undefined) throw new TypeError(`the platform returned a disk for unknown volume ${disk.volumeKey}`);
    const hashes = await hashSeed(disk.path, volume.sizeBytes, { signal });
    const recordKey = `${recordsPrefix}${GATEWAY_VOLUMES_DIR}${seedRecordKey(disk.volumeKey)}`;
    const record = await publishSeed(
      stagingAt(''),
      recordKey,
      { volumeKey: disk.volumeKey, seed: disk.location, seedSizeBytes: volume.sizeBytes, hashes },
      input.ackKey ? Buffer.from(input.ackKey, 'hex') : undefined,
    );
    seeds.set(disk.volumeKey, {
      vm: disk.seed.vm,
      preservedAs: disk.seed.preservedAs,
      recordKey,
      baseId: seedBaseId(record),
    });
  }
  return seeds;
}

/**
 * What a rollback leaves of the run's seed disks: they stay as the run wrote them so far (the next run compares them
 * again), and their pre-failback state is in the copies made before the first write; how to return to it.
 */
export function seedsAfterRollback(record: RunRecord | undefined): Record<string, unknown> {
  const seeds = (record?.disks ?? []).flatMap((disk) =>
    disk.seed
      ? [{ volumeKey: disk.volumeKey, vm: disk.seed.vm, disk: disk.location, preservedAs: disk.seed.preservedAs }]
      : [],
  );
  if (seeds.length === 0) return {};
  return {
    seeds,
    restoreSeeds:
      'each seed disk holds what this run wrote so far; a next run compares it again. To return a seed VM to its pre-failback state instead, keep it powered off and copy each preservedAs disk back over its seed disk (VirtualDiskManager.CopyVirtualDisk_Task with force, or vmkfstools -i), then delete the preserved folder (docs/vsphere.md, "Seeded failback")',
  };
}
