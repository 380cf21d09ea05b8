import { join } from 'node:path';
import type { EBSClientConfig } from '@aws-sdk/client-ebs';
import type { SFNClientConfig } from '@aws-sdk/client-sfn';
import { ActivityQueues } from '../orchestration/activity-queues.js';
import { ActivityServer } from './activity-server.js';
import { type EbsFaults, EbsServer } from './ebs-server.js';
import { LOCAL_CREDENTIALS, type LocalS3Server, startS3Server } from './s3-server.js';
import type { LocalCredentials } from './sigv4.js';
import { SnapshotStore } from './snapshot-store.js';

/**
 * The local cloud: an EBS direct API server over an on-disk snapshot store, s3rver for staging, and the Step
 * Functions activity API, all on 127.0.0.1, so homebound runs against the unmodified AWS SDK clients without an AWS
 * account.
 */

export { ActivityQueues, localActivityArn } from '../orchestration/activity-queues.js';
export { ActivityServer, type ActivityServerOptions, DEFAULT_POLL_WAIT_MS } from './activity-server.js';

export { type EbsFaults, EbsServer, type EbsServerStats } from './ebs-server.js';
export * from './local-volume.js';
export { LOCAL_CREDENTIALS, type LocalS3Server, localS3ClientConfig, startS3Server } from './s3-server.js';
export { ensureSampleSnapshot, SAMPLE_SNAPSHOT_TAG } from './sample-snapshot.js';
export type { LocalCredentials } from './sigv4.js';
export * from './snapshot-store.js';

/** Region the local cloud reports; any region in a request's signature is accepted. */
export const LOCAL_REGION = 'us-east-1';
/** Staging bucket created when `buckets` is not given. */
export const DEFAULT_STAGING_BUCKET = 'homebound-staging';
/** The activity the on-prem agent polls, created when `activities` is not given. */
export const AGENT_ACTIVITY_NAME = 'homebound-agent';

/** Options of `startLocalCloud`. */
export interface LocalCloudOptions {
  /** Root directory: `ebs/` holds snapshots, `s3/` objects, `volumes/` is the conventional place for volumes. */
  readonly dir: string;
  /** Buckets to create (DNS-valid names). @default ['homebound-staging'] */
  readonly buckets?: readonly string[];
  /** Faults of the EBS server; change them later with `cloud.ebs.setFaults`. @default none */
  readonly ebs?: EbsFaults;
  /** Seed of the fault PRNG. @default 1 */
  readonly seed?: number;
  /** Fixed ports, e.g. for a local cloud shared with other processes. @default 0 (ephemeral) */
  readonly ebsPort?: number;
  readonly s3Port?: number;
  readonly sfnPort?: number;
  /** Activities to create (names), e.g. for a worker started before any execution. @default ['homebound-agent'] */
  readonly activities?: readonly string[];
  /** How long GetActivityTask waits for a task; tests use less. @default 60000 (as on AWS) */
  readonly pollWaitMs?: number;
}

/** A running local cloud. */
export interface LocalCloud {
  readonly dir: string;
  /** Where local volumes (sparse image files) conventionally live: `<dir>/volumes`. */
  readonly volumesDir: string;
  readonly region: string;
  readonly ebsEndpoint: string;
  readonly s3Endpoint: string;
  /** The Step Functions activity API (GetActivityTask, SendTask*); `AWS_ENDPOINT_URL_SFN` in `env()`. */
  readonly sfnEndpoint: string;
  /**
   * The activity queues and task tokens behind `sfnEndpoint`: give them to `LocalStateMachine.load` as
   * `activityQueues` so its Activity Tasks reach workers polling the endpoint.
   */
  readonly activities: ActivityQueues;
  /** ARN of each activity created at start, by name (`homebound-agent` → `arn:aws:states:local:…:homebound-agent`). */
  readonly activityArns: Readonly<Record<string, string>>;
  readonly credentials: LocalCredentials;
  readonly buckets: readonly string[];
  readonly store: SnapshotStore;
  readonly ebs: EbsServer;
  /** Environment for a child process (SDK, AWS CLI ≥ 2.13) to use this local cloud. */
  env(): Record<string, string>;
  /** Stops the servers (waiting polls answer without a task) and closes the store. */
  stop(): Promise<void>;
}

/**
 * Starts the local cloud under `options.dir` (created when absent; snapshots and objects already there are kept).
 * Throws when a fixed port is taken or a bucket name is not DNS-valid (InvalidInputError).
 */
export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const store = await SnapshotStore.open(join(options.dir, 'ebs'));
  let ebs: EbsServer | undefined;
  let s3: LocalS3Server | undefined;
  let sfn: ActivityServer | undefined;
  const activities = new ActivityQueues();
  const activityArns = Object.fromEntries(
    (options.activities ?? [AGENT_ACTIVITY_NAME]).map((name) => [name, activities.createActivity(name).activityArn]),
  );
  try {
    ebs = await EbsServer.start({
      store,
      credentials: LOCAL_CREDENTIALS,
      ...(options.ebs ? { faults: options.ebs } : {}),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      ...(options.ebsPort === undefined ? {} : { port: options.ebsPort }),
    });
    s3 = await startS3Server({
      directory: join(options.dir, 's3'),
      buckets: options.buckets ?? [DEFAULT_STAGING_BUCKET],
      ...(options.s3Port === undefined ? {} : { port: options.s3Port }),
    });
    sfn = await ActivityServer.start({
      activities,
      credentials: LOCAL_CREDENTIALS,
      ...(options.pollWaitMs === undefined ? {} : { pollWaitMs: options.pollWaitMs }),
      ...(options.sfnPort === undefined ? {} : { port: options.sfnPort }),
    });
  } catch (error) {
    await ebs?.close();
    await s3?.close();
    await store.close();
    throw error;
  }
  const ebsServer = ebs;
  const s3Server = s3;
  const sfnServer = sfn;
  const cloud: LocalCloud = {
    dir: options.dir,
    volumesDir: join(options.dir, 'volumes'),
    region: LOCAL_REGION,
    ebsEndpoint: ebsServer.endpoint,
    s3Endpoint: s3Server.endpoint,
    sfnEndpoint: sfnServer.endpoint,
    activities,
    activityArns,
    credentials: LOCAL_CREDENTIALS,
    buckets: s3Server.buckets,
    store,
    ebs: ebsServer,
    env: () => ({
      AWS_ENDPOINT_URL_EBS: ebsServer.endpoint,
      AWS_ENDPOINT_URL_S3: s3Server.endpoint,
      AWS_ENDPOINT_URL_SFN: sfnServer.endpoint,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
    }),
    stop: async () => {
      await Promise.all([ebsServer.close(), s3Server.close(), sfnServer.close()]);
      await store.close();
    },
  };
  return cloud;
}

/** Where a local EBS lives, as `localEbsClientConfig` needs it (a LocalCloud fits). */
export interface LocalEbsLocation {
  readonly ebsEndpoint: string;
  readonly region: string;
  readonly credentials: LocalCredentials;
}

/** The EBSClientConfig for the local EBS server: its endpoint, region and key pair. */
export function localEbsClientConfig(cloud: LocalEbsLocation): EBSClientConfig {
  return { endpoint: cloud.ebsEndpoint, region: cloud.region, credentials: { ...cloud.credentials } };
}

/** Where a local activity API lives, as `localSfnClientConfig` needs it (a LocalCloud fits). */
export interface LocalSfnLocation {
  readonly sfnEndpoint: string;
  readonly region: string;
  readonly credentials: LocalCredentials;
}

/** The SFNClientConfig for the local activity API: its endpoint, region and key pair. */
export function localSfnClientConfig(cloud: LocalSfnLocation): SFNClientConfig {
  return { endpoint: cloud.sfnEndpoint, region: cloud.region, credentials: { ...cloud.credentials } };
}
