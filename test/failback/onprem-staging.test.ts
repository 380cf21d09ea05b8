import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  OnPremStagingCredentialsError,
  OnPremStagingMisconfiguredError,
  onPremStaging,
} from '../../core/adapters/aws/onprem-staging.js';
import { LOCAL_CREDENTIALS, type LocalS3Server, startS3Server } from '../../core/localcloud/s3-server.js';
import { awsFailbackDeps } from '../../core/wiring/aws.js';
import { TEST_TEMP_ROOT_ENV } from '../support/temp-root.js';

// Secrets Manager is mocked (no local one); the store is a real S3 server on loopback that checks SigV4 signatures
// against its own key pair, so only the key pair from the secret gets an object in.
const secrets = mockClient(SecretsManagerClient);
afterEach(() => secrets.reset());

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:onprem-store-AbCdEf';
const BUCKET = 'onprem-staging';
let store: LocalS3Server;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'onprem-store-'));
  store = await startS3Server({ directory: dir, buckets: [BUCKET] });
});
afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

const environment = () => ({
  HOMEBOUND_ONPREM_STAGING_ENDPOINT: store.endpoint,
  HOMEBOUND_ONPREM_STAGING_BUCKET: BUCKET,
  HOMEBOUND_ONPREM_STAGING_FORCE_PATH_STYLE: 'true' as const,
  HOMEBOUND_ONPREM_STAGING_CREDENTIALS_SECRET_ARN: SECRET_ARN,
});
const storeKeys = JSON.stringify(LOCAL_CREDENTIALS);

describe('on-prem S3-compatible staging on AWS', () => {
  it("writes a pass below its prefix in the store's bucket, signed with the key pair the secret holds", async () => {
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({ SecretString: storeKeys });
    const staging = onPremStaging(environment(), new SecretsManagerClient({ region: 'eu-west-1' }))?.staging;

    await staging?.('runs/run-1/volumes/').put('vol-a/pass-000001/segment-0', Buffer.from('blocks'));
    await staging?.('runs/run-1/volumes/').put('vol-a/pass-000001/segment-1', Buffer.from('more'));

    const direct = new S3Client({
      endpoint: store.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
    });
    const object = await direct.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: 'runs/run-1/volumes/vol-a/pass-000001/segment-0' }),
    );
    expect(await object.Body?.transformToString()).toBe('blocks');
    expect(await staging?.('runs/run-1/').list('volumes/')).toHaveLength(2);
    // One read of the secret for the process, however many requests are signed.
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    direct.destroy();
  });

  it('is refused by the store with another key pair: the secret is what signs', async () => {
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ accessKeyId: 'S3RVER', secretAccessKey: 'not-the-store-secret' }),
    });
    const staging = onPremStaging(environment(), new SecretsManagerClient({ region: 'eu-west-1' }))?.staging;
    const error = await staging?.('runs/run-2/')
      .put('x', Buffer.from('x'))
      .catch((e: unknown) => e);
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).toMatch(/SignatureDoesNotMatch/);
  });

  it('fails with OnPremStagingCredentialsError, naming the secret and no value, while the secret is unfilled', async () => {
    secrets
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: JSON.stringify({ accessKeyId: '', secretAccessKey: '', unused: 'x1y2' }) })
      .resolves({ SecretString: storeKeys });
    const staging = onPremStaging(environment(), new SecretsManagerClient({ region: 'eu-west-1' }))?.staging;

    const error = await staging?.('runs/run-3/')
      .put('x', Buffer.from('x'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OnPremStagingCredentialsError);
    expect(String((error as Error).message)).toContain(SECRET_ARN);
    expect(String((error as Error).message)).not.toContain('x1y2');
    // Not kept: once the operator fills the secret in, the next call reads it again and gets through.
    await staging?.('runs/run-3/').put('x', Buffer.from('x'));
    expect(await staging?.('runs/run-3/').list('')).toEqual(['x']);
  });

  it('is absent without an endpoint, and refused with an endpoint but no secret', () => {
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    expect(onPremStaging({}, client)).toBeUndefined();
    expect(() =>
      onPremStaging(
        { HOMEBOUND_ONPREM_STAGING_ENDPOINT: store.endpoint, HOMEBOUND_ONPREM_STAGING_BUCKET: BUCKET },
        client,
      ),
    ).toThrow(OnPremStagingMisconfiguredError);
  });

  it("is the functions' staging when the stack set the store's variables, else the stack's bucket is", () => {
    const base = {
      HOMEBOUND_STAGING_BUCKET: 'stack-bucket',
      HOMEBOUND_AVAILABILITY_ZONE: 'eu-west-1a',
      HOMEBOUND_SUBNET_ID: 'subnet-0123abcd',
      HOMEBOUND_IMAGE_ID: 'ami-0123456789abcdef0',
      HOMEBOUND_INSTANCE_TYPE: 'm7g.large',
      HOMEBOUND_GATEWAY_SECURITY_GROUP_ID: 'sg-0123abcd',
      HOMEBOUND_TAKEOVER_TAG: 'homebound:takeover=true',
      HOMEBOUND_STACK_TAG: 'Homebound',
      HOMEBOUND_GATEWAY_ARTIFACT_URI: 's3://assets/gateway.mjs',
      HOMEBOUND_GATEWAY_ARTIFACT_SHA256: 'a'.repeat(64),
      HOMEBOUND_INSTANCE_ARN_PREFIX: 'arn:aws:ec2:eu-west-1:123456789012:instance/',
      AWS_REGION: 'eu-west-1',
    };
    const stack = awsFailbackDeps(base);
    expect(stack.staging('runs/run-4/').description).toBe('s3://stack-bucket/runs/run-4');
    expect(stack.stagingBucket).toBe('stack-bucket');
    const onPrem = awsFailbackDeps({ ...base, ...environment() });
    expect(onPrem.staging('runs/run-4/').description).toBe(`s3://${BUCKET}/runs/run-4`);
    expect(onPrem.stagingBucket).toBe(BUCKET);
  });
});
