import { type EC2Client, paginateDescribeSnapshots } from '@aws-sdk/client-ec2';
import { mapEc2Error } from '../../compute/aws-compute-errors.js';
import type { DatedSnapshot, SnapshotHistory } from '../../estimate/measure-hosts.js';

/** A volume's completed snapshots from EC2 DescribeSnapshots (this account's, filtered by volume-id), oldest first. */
export class Ec2SnapshotHistory implements SnapshotHistory {
  constructor(private readonly ec2: EC2Client) {}

  /** @throws the compute errors of mapEc2Error (RequestRejectedError, …) naming DescribeSnapshots */
  async completedSnapshots(volumeId: string): Promise<DatedSnapshot[]> {
    const found: DatedSnapshot[] = [];
    try {
      const pages = paginateDescribeSnapshots(
        { client: this.ec2 },
        {
          OwnerIds: ['self'],
          Filters: [
            { Name: 'volume-id', Values: [volumeId] },
            { Name: 'status', Values: ['completed'] },
          ],
        },
      );
      for await (const page of pages) {
        for (const snapshot of page.Snapshots ?? []) {
          if (snapshot.SnapshotId && snapshot.StartTime) {
            found.push({ snapshotId: snapshot.SnapshotId, startTime: snapshot.StartTime });
          }
        }
      }
    } catch (error) {
      throw mapEc2Error(error, { operation: 'DescribeSnapshots', ids: [volumeId] });
    }
    return found.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  }
}
