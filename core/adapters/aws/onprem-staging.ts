import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { HomeboundError } from '../../errors.js';
import type { Staging } from '../../ports.js';
import { createS3Client } from './clients.js';
import { S3Staging } from './s3-staging.js';

/**
 * Where the conditional-automated method's passes go when they do not go to the stack's bucket: an S3-compatible store
 * on-prem (lib/config.ts `onPremStaging*`). Only that method's own StreamPass, CheckApplied and CleanUp functions get
 * these variables (lib/onprem-staging-store.ts) — their `staging` is then the store — and only they can read the
 * credentials' secret.
 */
export const OnPremStagingEnvironment = z.object({
  /** The store's URL; unset means the method stages in the stack's bucket. */
  HOMEBOUND_ONPREM_STAGING_ENDPOINT: z.url().optional(),
  HOMEBOUND_ONPREM_STAGING_BUCKET: z.string().min(3).optional(),
  /** `true` or `false`. @default true */
  HOMEBOUND_ONPREM_STAGING_FORCE_PATH_STYLE: z.enum(['true', 'false']).optional(),
  /** The region the store signs for. @default us-east-1 */
  HOMEBOUND_ONPREM_STAGING_REGION: z.string().min(1).optional(),
  /** The Secrets Manager secret holding the store's `{"accessKeyId", "secretAccessKey"}`. */
  HOMEBOUND_ONPREM_STAGING_CREDENTIALS_SECRET_ARN: z.string().min(1).optional(),
});
export type OnPremStagingEnvironment = z.infer<typeof OnPremStagingEnvironment>;

/** The on-prem store's key pair, as the secret holds it. */
const StoreCredentials = z.object({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1) });

/** The on-prem store is named without its bucket or its credentials' secret (the stack sets all three together). */
export class OnPremStagingMisconfiguredError extends HomeboundError {}

/**
 * The credentials secret does not hold `{"accessKeyId", "secretAccessKey"}`, both non-empty — typically the secret
 * the stack created and nobody filled in yet (docs/operations.md). The message names the secret, never its value.
 */
export class OnPremStagingCredentialsError extends HomeboundError {}

/**
 * Reads the store's key pair from Secrets Manager on first use and keeps it for the process; a failed read is not
 * kept, so the next call (the next pass's retry) reads again, e.g. after the operator filled the secret in.
 * @throws OnPremStagingCredentialsError when the secret is not the key pair
 */
export function secretCredentials(client: SecretsManagerClient, secretId: string) {
  let credentials: Promise<z.infer<typeof StoreCredentials>> | undefined;
  const read = async () => {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    let value: unknown;
    try {
      value = JSON.parse(SecretString ?? '');
    } catch {
      value = undefined;
    }
    const parsed = StoreCredentials.safeParse(value);
    if (!parsed.success) {
      throw new OnPremStagingCredentialsError(
        `secret ${secretId} must hold {"accessKeyId": "…", "secretAccessKey": "…"} of the on-prem staging store`,
      );
    }
    return parsed.data;
  };
  return async () => {
    credentials ??= read().catch((error: unknown) => {
      credentials = undefined;
      throw error;
    });
    return credentials;
  };
}

/** The on-prem store as the functions use it: its bucket, and staging rooted at a prefix of it. */
export interface OnPremStagingStore {
  readonly bucket: string;
  readonly staging: (prefix: string) => Staging;
}

/**
 * The on-prem store, or undefined when `env` names no store. One S3 client for the store, signing with the secret's
 * key pair. No server-side encryption header: S3-compatible stores differ in what they accept, and at rest the data is
 * the store's (docs/operations.md); in transit the stack requires https.
 * @throws OnPremStagingMisconfiguredError when the endpoint is set without the bucket or the secret
 */
export function onPremStaging(
  env: OnPremStagingEnvironment,
  secrets: SecretsManagerClient,
): OnPremStagingStore | undefined {
  const endpoint = env.HOMEBOUND_ONPREM_STAGING_ENDPOINT;
  if (endpoint === undefined) return undefined;
  const bucket = env.HOMEBOUND_ONPREM_STAGING_BUCKET;
  const secretArn = env.HOMEBOUND_ONPREM_STAGING_CREDENTIALS_SECRET_ARN;
  if (bucket === undefined || secretArn === undefined) {
    throw new OnPremStagingMisconfiguredError(
      'HOMEBOUND_ONPREM_STAGING_ENDPOINT is set without HOMEBOUND_ONPREM_STAGING_BUCKET and ' +
        'HOMEBOUND_ONPREM_STAGING_CREDENTIALS_SECRET_ARN',
    );
  }
  const client = createS3Client({
    endpoint,
    region: env.HOMEBOUND_ONPREM_STAGING_REGION ?? 'us-east-1',
    forcePathStyle: env.HOMEBOUND_ONPREM_STAGING_FORCE_PATH_STYLE !== 'false',
    credentials: secretCredentials(secrets, secretArn),
  });
  return { bucket, staging: (prefix) => new S3Staging(client, { bucket, prefix, serverSideEncryption: false }) };
}
