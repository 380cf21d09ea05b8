import { BLOCK_SIZE, bytesOnDisk, sha256Hex } from '../../core/blocks.js';
import type { Host } from '../../core/compute/port.js';
import { imageSha256 } from '../../core/image-digest.js';
import { readVolume } from '../../core/localcloud/local-volume.js';
import type { LocalFailback } from '../../core/wiring/local.js';

export interface VolumeCheck {
  readonly volumeKey: string;
  readonly sourceVolumeId: string;
  readonly targetVolumeId: string | undefined;
  readonly sourceSha256: string;
  readonly targetSha256: string | undefined;
  readonly identical: boolean;
}

/** Whole-image SHA-256 of each takeover volume and of the target volume the run synced it to. */
export async function compareVolumes(
  env: LocalFailback,
  volumes: readonly { volumeKey: string; sourceVolumeId: string; targetVolumeId?: string | undefined }[],
): Promise<VolumeCheck[]> {
  const checks: VolumeCheck[] = [];
  for (const volume of volumes) {
    const sourceSha256 = await imageSha256(env.volumePath(volume.sourceVolumeId));
    const targetSha256 = volume.targetVolumeId ? await imageSha256(env.volumePath(volume.targetVolumeId)) : undefined;
    checks.push({
      volumeKey: volume.volumeKey,
      sourceVolumeId: volume.sourceVolumeId,
      targetVolumeId: volume.targetVolumeId,
      sourceSha256,
      targetSha256,
      identical: targetSha256 === sourceSha256,
    });
  }
  return checks;
}

export interface WritesCheck {
  /** Writes the takeover host's workload completed. */
  readonly writes: number;
  /** Blocks whose last write is still there, byte for byte. */
  readonly blocksChecked: number;
  readonly lost: readonly { volumeId: string; blockIndex: number }[];
}

/** checkWorkloadWrites over every host: the writes summed, every lost block listed. */
export async function checkFleetWrites(
  env: LocalFailback,
  hosts: readonly Host[],
  volumeOf?: (sourceVolumeId: string) => string | undefined,
): Promise<WritesCheck> {
  const checks: WritesCheck[] = [];
  for (const host of hosts) checks.push(await checkWorkloadWrites(env, host, volumeOf));
  return {
    writes: checks.reduce((sum, check) => sum + check.writes, 0),
    blocksChecked: checks.reduce((sum, check) => sum + check.blocksChecked, 0),
    lost: checks.flatMap((check) => check.lost),
  };
}

/**
 * Checks that every write the takeover host's workload made is on `volumeOf(sourceVolumeId)`: the last write of
 * each block must be there byte for byte. Run against the takeover volumes after a rollback (nothing lost) and
 * against the failback volumes after a cutover. Pauses the workload while it reads.
 */
export async function checkWorkloadWrites(
  env: LocalFailback,
  host: Host,
  volumeOf: (sourceVolumeId: string) => string | undefined = (id) => id,
): Promise<WritesCheck> {
  const workload = env.compute.workloadOf(host.hostId);
  const pause = await workload?.pause();
  try {
    const last = new Map<string, { volumeId: string; blockIndex: number; sha256: string }>();
    for (const write of workload?.writes ?? []) last.set(`${write.volumeId}:${write.blockIndex}`, write);
    const lost: { volumeId: string; blockIndex: number }[] = [];
    for (const write of last.values()) {
      const volume = host.volumes.find((candidate) => candidate.volumeId === write.volumeId);
      const volumeId = volumeOf(write.volumeId);
      if (!volume || !volumeId) {
        lost.push({ volumeId: write.volumeId, blockIndex: write.blockIndex });
        continue;
      }
      const length = bytesOnDisk(write.blockIndex, volume.sizeBytes);
      const data = await readVolume(env.volumePath(volumeId), write.blockIndex * BLOCK_SIZE, length);
      if (sha256Hex(data) !== write.sha256) lost.push({ volumeId: write.volumeId, blockIndex: write.blockIndex });
    }
    return { writes: workload?.writes.length ?? 0, blocksChecked: last.size, lost };
  } finally {
    pause?.resume();
  }
}
