import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { createEbsClient, createS3Client } from '../../core/adapters/aws/clients.js';
import { EbsBlockSource } from '../../core/adapters/aws/ebs-block-source.js';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import { type LocalCloud, type LocalCloudOptions, startLocalCloud } from '../../core/localcloud/index.js';

export const STAGING_BUCKET = 'homebound-test-staging';

export interface TestCloud {
  readonly dir: string;
  readonly cloud: LocalCloud;
  readonly source: EbsBlockSource;
  readonly staging: S3Staging;
  /** The S3 client behind `staging`, for a state machine's Distributed Maps (LocalStateMachine.load's `s3`). */
  readonly s3: S3Client;
  stagingAt(bucket: string, prefix?: string): S3Staging;
  stop(): Promise<void>;
}

/**
 * A local cloud in a fresh temp dir, with the engine's real AWS adapters pointed at it — exactly how homebound runs
 * against AWS, only the endpoints and credentials differ.
 */
export async function startTestCloud(options: Partial<LocalCloudOptions> = {}): Promise<TestCloud> {
  const dir = await mkdtemp(join(tmpdir(), 'hb-it-'));
  const cloud = await startLocalCloud({ dir: join(dir, 'cloud'), buckets: [STAGING_BUCKET], ...options });
  const connection = { endpoint: cloud.ebsEndpoint, region: cloud.region, credentials: cloud.credentials };
  const s3 = createS3Client({ endpoint: cloud.s3Endpoint, region: cloud.region, credentials: cloud.credentials });
  const stagingAt = (bucket: string, prefix = '') => new S3Staging(s3, { bucket, prefix });
  return {
    dir,
    cloud,
    source: new EbsBlockSource(createEbsClient(connection)),
    staging: stagingAt(STAGING_BUCKET, 'runs/test/'),
    s3,
    stagingAt,
    stop: async () => {
      await cloud.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
