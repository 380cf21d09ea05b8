import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StagedObjectMissingError, StagingBucketNotFoundError } from '../../errors.js';
import type { GetOptions, PutOptions, StagedObjectInfo, Staging } from '../../ports.js';
import { withRequestExtras } from './direct-http-handler.js';
import { readDeclaredBody } from './response-body.js';

export interface S3StagingOptions {
  readonly bucket: string;
  /** Key prefix under which this staging lives, e.g. `runs/run-123/`. @default '' */
  readonly prefix?: string;
  /** SSE-KMS key for staged objects. @default SSE-S3 (AES256) unless `serverSideEncryption` is false */
  readonly kmsKeyId?: string | undefined;
  /** Ask for server-side encryption on every put. Some S3-compatible stores reject the header. @default true */
  readonly serverSideEncryption?: boolean;
}

/** Staging on S3 (or any S3-compatible store). Keys passed in are relative to the prefix. */
export class S3Staging implements Staging {
  readonly description: string;
  private readonly prefix: string;

  constructor(
    private readonly client: S3Client,
    private readonly options: S3StagingOptions,
  ) {
    this.prefix = options.prefix ?? '';
    this.description = `s3://${options.bucket}/${this.prefix}`.replace(/\/$/, '');
  }

  async assertReady(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
    } catch (error) {
      throw new StagingBucketNotFoundError(this.options.bucket, { cause: error });
    }
  }

  async put(key: string, body: Uint8Array, metadata?: Record<string, string>, options?: PutOptions): Promise<void> {
    const encryption =
      this.options.serverSideEncryption === false
        ? {}
        : this.options.kmsKeyId
          ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: this.options.kmsKeyId }
          : { ServerSideEncryption: 'AES256' as const };
    const command = new PutObjectCommand({
      Bucket: this.options.bucket,
      Key: this.prefix + key,
      Body: body,
      Metadata: metadata,
      ...encryption,
    });
    const payloadHash = options?.unsignedPayload ? 'UNSIGNED-PAYLOAD' : options?.sha256;
    if (payloadHash) withPayloadHash(command, payloadHash);
    try {
      await this.client.send(command);
    } catch (error) {
      throw this.mapBucketError(error);
    }
  }

  async get(key: string, options?: GetOptions): Promise<Buffer> {
    try {
      const input = { Bucket: this.options.bucket, Key: this.prefix + key };
      const response = await this.client.send(
        new GetObjectCommand(options?.allocate ? withRequestExtras(input, { bodyInto: options.allocate }) : input),
      );
      if (!response.Body) throw new StagedObjectMissingError(this.describe(key));
      return await readDeclaredBody(response.Body, response.ContentLength, options?.allocate);
    } catch (error) {
      if (error instanceof NoSuchKey || nameOf(error) === 'NoSuchKey')
        throw new StagedObjectMissingError(this.describe(key), { cause: error });
      throw this.mapBucketError(error);
    }
  }

  async head(key: string): Promise<StagedObjectInfo | undefined> {
    try {
      const response = await this.client.send(
        new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.prefix + key }),
      );
      return { key, size: response.ContentLength ?? 0, metadata: response.Metadata ?? {} };
    } catch (error) {
      if (error instanceof NotFound || nameOf(error) === 'NotFound' || statusOf(error) === 404) {
        if (nameOf(error) === 'NoSuchBucket') throw this.mapBucketError(error);
        return undefined;
      }
      throw this.mapBucketError(error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.options.bucket,
            Prefix: this.prefix + prefix,
            ContinuationToken: token,
          }),
        );
        for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key.slice(this.prefix.length));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw this.mapBucketError(error);
    }
    return keys.sort();
  }

  async deletePrefix(prefix: string): Promise<number> {
    const keys = await this.list(prefix);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((key) => ({ Key: this.prefix + key }));
      await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.options.bucket, Delete: { Objects: batch, Quiet: true } }),
      );
    }
    return keys.length;
  }

  private describe(key: string): string {
    return `s3://${this.options.bucket}/${this.prefix}${key}`;
  }

  private mapBucketError(error: unknown): Error {
    if (nameOf(error) === 'NoSuchBucket') return new StagingBucketNotFoundError(this.options.bucket, { cause: error });
    return error instanceof Error ? error : new Error(String(error));
  }
}

/**
 * Signs the request with a payload hash the caller chose: a SHA-256 it already computed (S3 rejects an upload whose
 * bytes do not match it) or UNSIGNED-PAYLOAD. SigV4's signer takes x-amz-content-sha256 as given instead of hashing
 * the body itself.
 */
function withPayloadHash(command: PutObjectCommand, payloadHash: string): void {
  command.middlewareStack.add(
    (next) => async (args) => {
      if (hasHeaders(args.request)) args.request.headers['x-amz-content-sha256'] = payloadHash;
      return next(args);
    },
    { step: 'build', name: 'homeboundKnownPayloadHash' },
  );
}

function hasHeaders(request: unknown): request is { headers: Record<string, string> } {
  return typeof request === 'object' && request !== null && typeof Reflect.get(request, 'headers') === 'object';
}

function nameOf(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

function statusOf(error: unknown): number {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode ?? 0;
}
