import { EBSClient } from '@aws-sdk/client-ebs';
import { S3Client } from '@aws-sdk/client-s3';
import { DirectHttpHandler, requestExtrasMiddleware } from './direct-http-handler.js';

export interface AwsKeyPair {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Where and as whom to call AWS. Leave endpoint/credentials unset on AWS; the local cloud sets both. */
export interface AwsConnection {
  readonly region?: string | undefined;
  readonly endpoint?: string | undefined;
  /** A key pair, or a provider the SDK calls when it signs (e.g. a store's keys read from Secrets Manager). */
  readonly credentials?: AwsKeyPair | (() => Promise<AwsKeyPair>) | undefined;
}

export interface EbsClientOptions extends AwsConnection {
  /** Sockets kept open; AWS suggests ~100 parallel connections for ~500 MB/s. @default 128 */
  readonly maxSockets?: number;
  /** A call whose socket stays silent this long fails (and is retried by the streamer). @default 30000 */
  readonly requestTimeoutMs?: number;
}

/** homebound's own transport (direct-http-handler.ts): keep-alive sockets whose reads land in the engine's buffers. */
function requestHandler(maxSockets: number, requestTimeoutMs: number): DirectHttpHandler {
  return new DirectHttpHandler({ maxSockets, connectionTimeoutMs: 5_000, requestTimeoutMs });
}

/** Lets a command carry extras (`withRequestExtras`) to the transport. */
function withExtras<T extends { middlewareStack: { add: (...args: never[]) => void } }>(client: T): T {
  (client.middlewareStack.add as (m: unknown, o: unknown) => void)(
    requestExtrasMiddleware.middleware,
    requestExtrasMiddleware.options,
  );
  return client;
}

/**
 * An EBS client for the block engine: SDK retries off (the streamer paces and retries, so it sees every throttle),
 * keep-alive sockets, and a request timeout that really throws.
 */
export function createEbsClient(options: EbsClientOptions = {}): EBSClient {
  return withExtras(
    new EBSClient({
      region: options.region,
      endpoint: options.endpoint,
      credentials: options.credentials,
      maxAttempts: 1,
      // Resolve the middleware chain once per command type, not on every GetSnapshotBlock: nothing here adds
      // middleware to a single command.
      cacheMiddleware: true,
      requestHandler: requestHandler(options.maxSockets ?? 128, options.requestTimeoutMs ?? 30_000),
    }),
  );
}

export interface S3ClientOptions extends AwsConnection {
  /** Path-style addressing; needed by S3-compatible stores such as the local cloud. @default true when endpoint is set */
  readonly forcePathStyle?: boolean | undefined;
  /** AWS profile the credentials come from (an on-prem store's own keys). @default the default credential chain */
  readonly profile?: string | undefined;
}

/** An S3 client for staging; SDK retries stay on (standard mode) because staging calls are few and large. */
export function createS3Client(options: S3ClientOptions = {}): S3Client {
  return withExtras(
    new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      credentials: options.credentials,
      ...(options.profile === undefined ? {} : { profile: options.profile }),
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      // S3-compatible stores (the local cloud, many on-prem appliances) do not all speak the SDK's newer
      // aws-chunked trailing checksums; homebound carries its own SHA-256 for every segment anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: requestHandler(64, 120_000),
    }),
  );
}
