import type { Command } from 'commander';
import { assertAwsConfigured } from '../../core/adapters/aws/aws-configuration.js';
import { createEbsClient, createS3Client } from '../../core/adapters/aws/clients.js';
import { EbsBlockSource } from '../../core/adapters/aws/ebs-block-source.js';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import { isValidVolumeKey } from '../../core/engine/layout.js';
import { runPass } from '../../core/engine/pass.js';
import { InvalidInputError } from '../../core/errors.js';
import { awsConnectionsFromEnv } from '../aws-env.js';
import { bucketName, integerAtLeast, keyPrefix } from '../options.js';

interface StreamOptions {
  volumeKey: string;
  pass: number;
  snapshot: string;
  baseSnapshot?: string;
  volumeSizeBytes?: number;
  bucket: string;
  prefix: string;
  maxRps: number;
  concurrency: number;
}

/** `homebound stream`: one pass from EBS snapshots into S3 staging (plan, stream every shard, seal). */
export function registerStream(program: Command): void {
  program
    .command('stream')
    .description('Stream one pass of a volume from EBS snapshots into S3 staging as delta segments')
    .requiredOption('--volume-key <key>', 'name of the volume in staging (letters, digits, . _ -)')
    .requiredOption('--pass <n>', 'pass number (1 for the first, full pass)', integerAtLeast(1))
    .requiredOption('--snapshot <id>', 'snapshot this pass brings the target to')
    .option('--base-snapshot <id>', "previous pass's snapshot; makes the pass incremental")
    .option('--volume-size-bytes <n>', 'exact source size when it is not whole GiB', integerAtLeast(1))
    .requiredOption('--bucket <name>', 'staging bucket', bucketName)
    .option('--prefix <prefix>', 'key prefix inside the bucket, e.g. runs/run-1/', keyPrefix, '')
    .option('--max-rps <n>', 'ceiling on GetSnapshotBlock calls per second', integerAtLeast(1), 1000)
    .option('--concurrency <n>', 'GetSnapshotBlock calls in flight at most', integerAtLeast(1), 64)
    .action(async (options: StreamOptions) => {
      if (!isValidVolumeKey(options.volumeKey))
        throw new InvalidInputError(`--volume-key "${options.volumeKey}" is not a valid volume key`);
      const aws = awsConnectionsFromEnv();
      const ebs = createEbsClient(aws.ebs);
      const s3 = createS3Client(aws.s3);
      await assertAwsConfigured(ebs, { purpose: 'reading EBS snapshots' });
      await assertAwsConfigured(s3, { purpose: `staging bucket ${options.bucket}` });
      const source = new EbsBlockSource(ebs);
      const staging = new S3Staging(s3, { bucket: options.bucket, prefix: options.prefix });
      const report = await runPass(
        {
          volumeKey: options.volumeKey,
          passNumber: options.pass,
          kind: options.baseSnapshot ? 'incremental' : 'full',
          snapshotId: options.snapshot,
          baseSnapshotId: options.baseSnapshot,
          volumeSizeBytes: options.volumeSizeBytes,
        },
        { source, staging, governor: { maxRequestsPerSecond: options.maxRps, maxConcurrency: options.concurrency } },
      );
      const { manifest, counters } = report;
      console.log(
        JSON.stringify({
          passNumber: manifest.passNumber,
          kind: manifest.kind,
          snapshotId: manifest.snapshotId,
          blocksListed: manifest.blocksListed,
          blocksCarried: manifest.blocksCarried,
          segments: manifest.segments.length,
          bytesRead: counters.bytesRead,
          bytesStaged: report.bytesStaged,
          throttled: counters.throttled,
          retried: counters.retried,
          checksumMismatches: counters.checksumMismatches,
          seconds: Number(report.seconds.toFixed(3)),
        }),
      );
    });
}
