import type { DatedSnapshot, SnapshotHistory } from '../estimate/measure-hosts.js';
import type { SnapshotStore } from './snapshot-store.js';

/** The local cloud's stand-in for EC2 DescribeSnapshots by volume: the snapshot store's completed snapshots. */
export class LocalSnapshotHistory implements SnapshotHistory {
  constructor(private readonly store: SnapshotStore) {}

  async completedSnapshots(volumeId: string): Promise<DatedSnapshot[]> {
    return (await this.store.list({ volumeId }))
      .filter((info) => info.status === 'completed')
      .map((info) => ({ snapshotId: info.snapshotId, startTime: info.startTime }))
      .sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  }
}
