import { EC2Client } from '@aws-sdk/client-ec2';
import { assertAwsConfigured } from '../../core/adapters/aws/aws-configuration.js';
import { createEbsClient } from '../../core/adapters/aws/clients.js';
import { EbsBlockSource } from '../../core/adapters/aws/ebs-block-source.js';
import { Ec2SnapshotHistory } from '../../core/adapters/aws/ec2-snapshot-history.js';
import { AwsCompute } from '../../core/compute/aws-compute.js';
import { type MeasuredVolume, measureHosts } from '../../core/estimate/measure-hosts.js';
import { awsConnectionsFromEnv } from '../aws-env.js';

/**
 * `estimate --from-hosts`: the takeover hosts' volumes measured on AWS (EC2 for the hosts and their snapshots, the EBS
 * direct APIs' List calls for blocks in use and changed). Lists only: no block is read.
 * @throws AwsRegionMissingError / AwsCredentialsMissingError before any call; TooFewSnapshotsError naming a volume
 */
export async function measureTakeoverHostsOnAws(hostIds: readonly string[]): Promise<MeasuredVolume[]> {
  const connections = awsConnectionsFromEnv();
  const ec2 = new EC2Client(connections.ebs.region ? { region: connections.ebs.region } : {});
  await assertAwsConfigured(ec2, { purpose: `EC2 (takeover hosts ${hostIds.join(', ')})` });
  // Only describeHosts is called: the launch settings a failback needs are never used here.
  const compute = new AwsCompute(ec2, {
    availabilityZone: '',
    launch: { imageId: '', instanceType: 't3.micro', subnetId: '' },
    instanceArnPrefix: '',
  });
  return measureHosts(hostIds, {
    compute,
    snapshots: new Ec2SnapshotHistory(ec2),
    blockSource: new EbsBlockSource(createEbsClient(connections.ebs)),
  });
}
