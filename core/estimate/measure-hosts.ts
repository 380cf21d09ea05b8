import { blockCountFor } from '../blocks.js';
import type { ComputePort } from '../compute/port.js';
import { InvalidInputError } from '../errors.js';
import type { BlockPage, BlockSource, ListOptions } from '../ports.js';
import type { EstimatePlan } from './plan.js';

/** A completed snapshot of a volume and when it was taken. */
export interface DatedSnapshot {
  readonly snapshotId: string;
  readonly startTime: Date;
}

/**
 * The completed snapshots of a volume, oldest first: EC2 DescribeSnapshots (volume-id, status completed) on AWS, the
 * snapshot store locally.
 */
export interface SnapshotHistory {
  completedSnapshots(volumeId: string): Promise<DatedSnapshot[]>;
}

/** One takeover volume as measured from its two latest snapshots. */
export interface MeasuredVolume {
  readonly hostId: string;
  readonly volumeId: string;
  readonly sizeBytes: number;
  /** Blocks the latest snapshot holds (ListSnapshotBlocks): what a full pass reads. */
  readonly usedBlocks: number;
  /** Blocks that differ between the two (ListChangedBlocks), written in `intervalSeconds`. */
  readonly changedBlocks: number;
  readonly intervalSeconds: number;
  readonly earlierSnapshotId: string;
  readonly latestSnapshotId: string;
}

/** A takeover volume with fewer than two completed snapshots: nothing to measure its writes by. */
export class TooFewSnapshotsError extends InvalidInputError {}

async function countBlocks(list: (options: ListOptions) => Promise<BlockPage>): Promise<number> {
  let count = 0;
  let nextToken: string | undefined;
  do {
    const page = await list({ maxResults: 10_000, nextToken });
    count += page.blocks.length;
    nextToken = page.nextToken;
  } while (nextToken);
  return count;
}

/**
 * Measures each volume of the takeover hosts from its two latest completed snapshots: the blocks in use
 * (ListSnapshotBlocks on the latest) and the blocks changed between them (ListChangedBlocks) over the time between
 * their start times. Reads only lists, never a block.
 * @throws TooFewSnapshotsError naming the volume; HostNotFoundError from the compute port
 */
export async function measureHosts(
  hostIds: readonly string[],
  deps: {
    readonly compute: Pick<ComputePort, 'describeHosts'>;
    readonly snapshots: SnapshotHistory;
    readonly blockSource: BlockSource;
  },
): Promise<MeasuredVolume[]> {
  const hosts = await deps.compute.describeHosts({ hostIds });
  const measured: MeasuredVolume[] = [];
  for (const hostId of hostIds) {
    const host = hosts.find((candidate) => candidate.hostId === hostId);
    if (!host) throw new InvalidInputError(`takeover host ${hostId} was not found`);
    for (const volume of host.volumes) {
      const history = await deps.snapshots.completedSnapshots(volume.volumeId);
      const [earlier, latest] = history.slice(-2);
      if (!earlier || !latest) {
        throw new TooFewSnapshotsError(
          `volume ${volume.volumeId} of ${hostId} has ${history.length} completed snapshot(s); measuring its writes takes two`,
        );
      }
      measured.push({
        hostId,
        volumeId: volume.volumeId,
        sizeBytes: volume.sizeBytes,
        usedBlocks: await countBlocks((options) => deps.blockSource.listSnapshotBlocks(latest.snapshotId, options)),
        changedBlocks: await countBlocks((options) =>
          deps.blockSource.listChangedBlocks(earlier.snapshotId, latest.snapshotId, options),
        ),
        intervalSeconds: (latest.startTime.getTime() - earlier.startTime.getTime()) / 1000,
        earlierSnapshotId: earlier.snapshotId,
        latestSnapshotId: latest.snapshotId,
      });
    }
  }
  return measured;
}

/**
 * The plan the measurement describes: each volume's size and used share, and the whole-block writes per second that,
 * spread uniformly over the volume, change as many distinct blocks in the measured interval (the inverse of the
 * model's changed-blocks formula; all blocks changed is taken as one write per block per interval).
 */
export function planFromMeasurement(
  measured: readonly MeasuredVolume[],
  convergence: EstimatePlan['convergence'],
): EstimatePlan {
  const hostIds = [...new Set(measured.map((volume) => volume.hostId))];
  return {
    hosts: hostIds.map((hostId) => ({
      id: hostId,
      volumes: measured
        .filter((volume) => volume.hostId === hostId)
        .map((volume) => {
          const blocks = blockCountFor(volume.sizeBytes);
          const changed = Math.min(volume.changedBlocks, blocks - 0.5);
          const writes = blocks > 1 ? Math.log(1 - changed / blocks) / Math.log(1 - 1 / blocks) : changed;
          return {
            sizeMiB: volume.sizeBytes / (1024 * 1024),
            usedFraction: Math.min(1, volume.usedBlocks / blocks),
            writes: {
              writesPerSecond: volume.intervalSeconds > 0 ? writes / volume.intervalSeconds : 0,
              writeKiB: 512,
              hotFraction: 1,
            },
          };
        }),
    })),
    usedFraction: 1,
    convergence,
    approvalSeconds: 0,
  };
}
