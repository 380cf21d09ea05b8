import { mkdir } from 'node:fs/promises';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import AWSAccount from 's3rver/lib/models/account.js';
import { isValidBucketName } from '../adapters/aws/bucket-name.js';
import { InvalidInputError } from '../errors.js';
import { s3Guard } from './s3-guard.js';
import { applyS3rverFixes } from './s3rver-fixes.js';
import type { LocalCredentials } from './sigv4.js';

/** s3rver only knows its built-in key pair; the local EBS server accepts the same one. */
export const LOCAL_CREDENTIALS: LocalCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** Options of `startS3Server`. */
export interface S3ServerOptions {
  /** Where objects are kept. */
  readonly directory: string;
  /** Buckets to create (kept when they already exist). DNS-valid names only. @default none */
  readonly buckets?: readonly string[];
  /** @default 0 (an ephemeral port) */
  readonly port?: number;
  /**
   * The only key pair this server accepts (every request must be SigV4-signed with it), e.g. an on-prem store's own
   * keys that the cloud's server refuses, and the other way round. @default LOCAL_CREDENTIALS
   */
  readonly credentials?: LocalCredentials;
}

/** A running s3rver on 127.0.0.1. */
export interface LocalS3Server {
  readonly endpoint: string;
  /** The key pair it accepts. */
  readonly credentials: LocalCredentials;
  readonly buckets: readonly string[];
  close(): Promise<void>;
}

/** Starts s3rver (the S3 protocol, in-process) with the given buckets. Throws InvalidInputError for a bad name. */
export async function startS3Server(options: S3ServerOptions): Promise<LocalS3Server> {
  const buckets = [...(options.buckets ?? [])];
  for (const bucket of buckets) {
    if (!isValidBucketName(bucket)) throw new InvalidInputError(`bucket name ${bucket} is not DNS-valid`);
  }
  const credentials = options.credentials ?? LOCAL_CREDENTIALS;
  await mkdir(options.directory, { recursive: true });
  // s3rver itself looks the access key up in a process-wide registry (holding only S3RVER) after the guard has
  // checked the signature against this server's one pair; a key known there is not accepted by the other servers,
  // whose guards know only their own pair.
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(credentials.accessKeyId, credentials.secretAccessKey);
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    silent: true,
    directory: options.directory,
    // Path-style only: vhost-style would read a bucket out of the "127.0.0.1" host name.
    vhostBuckets: false,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  applyS3rverFixes(server);
  // First of all: nothing unsigned, and no name that would leave the directory, reaches s3rver.
  server.middleware.unshift(s3Guard(credentials));
  const address = await server.run();
  // Node closes idle keep-alive connections after 5 s; AWS endpoints keep them about a minute, as the EBS server does.
  if (server.httpServer) server.httpServer.keepAliveTimeout = 60_000;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    credentials,
    buckets,
    close: async () => {
      const closed = server.close();
      // The SDK keeps connections alive; without this close() waits for them to idle out.
      server.httpServer?.closeAllConnections();
      await closed;
    },
  };
}

/** Where a local S3 lives, as `localS3ClientConfig` needs it (a LocalCloud fits). */
export interface LocalS3Location {
  readonly s3Endpoint: string;
  readonly region: string;
  readonly credentials: LocalCredentials;
}

/**
 * The S3ClientConfig that makes @aws-sdk/client-s3 (3.1173) work against s3rver: path-style addressing, and
 * checksums only where the API requires them — by default the SDK adds CRC32 trailers with aws-chunked encoding,
 * which s3rver stores verbatim, and validates response checksums s3rver never sends.
 */
export function localS3ClientConfig(cloud: LocalS3Location): S3ClientConfig {
  return {
    endpoint: cloud.s3Endpoint,
    region: cloud.region,
    credentials: { ...cloud.credentials },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}
