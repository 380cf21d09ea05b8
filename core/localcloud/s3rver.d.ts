// Type declarations for the parts of s3rver 3.x (no bundled types) that the local cloud uses. s3rver is a Koa app.
declare module 's3rver' {
  import type { IncomingHttpHeaders, Server } from 'node:http';
  import type { AddressInfo } from 'node:net';

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }

  /** The slice of a Koa context the local cloud's middleware touches. */
  interface S3rverContext {
    method: string;
    path: string;
    /** The request as received: its url is still percent-encoded. */
    req: import('node:http').IncomingMessage;
    query: Record<string, string | string[] | undefined>;
    body: unknown;
  }

  /** What s3rver's object controller hands the store: for a PUT the request itself (a POST gives a file stream). */
  interface S3rverObject {
    bucket: string;
    key: string;
    content: (NodeJS.ReadableStream & { headers?: IncomingHttpHeaders }) | Buffer;
    metadata: Record<string, string>;
  }

  interface S3rverStore {
    deleteObject(bucket: string, key: string): Promise<void>;
    /** An object with its content stream; null when absent. A range outside the object yields no content. */
    getObject(
      bucket: string,
      key: string,
      options?: { start?: number; end?: number },
    ): Promise<S3rverStoredObject | null>;
    /** The stored metadata with etag, last-modified and content-length; throws ENOENT when absent. */
    getMetadata(bucket: string, key: string): Promise<Record<string, string | number>>;
    putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
    /** Path of an object's file (`resource` 'object') or a sidecar ('metadata.json', 'object.md5'). */
    getResourcePath(bucket: string, key: string, resource: string): string;
    putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
    /** A bucket's (key undefined) or an object's configuration of `resourceType` ('cors', 'website', …); null when
     * none is set. */
    getSubresource(bucket: string, key: string | undefined, resourceType: string): Promise<unknown>;
    putSubresource(bucket: string, key: string | undefined, resource: { type: string }): Promise<void>;
    deleteSubresource(bucket: string, key: string | undefined, resourceType: string): Promise<void>;
    /** null when the bucket does not exist. */
    getBucket(bucket: string): Promise<unknown>;
    putBucket(bucket: string): Promise<unknown>;
    deleteBucket(bucket: string): Promise<void>;
  }

  /** s3rver's S3Object model as the store returns it. */
  interface S3rverStoredObject {
    content: NodeJS.ReadableStream | null;
    metadata: Record<string, string | number>;
    range?: { start: number; end: number };
  }

  type S3rverMiddleware = (ctx: S3rverContext, next: () => Promise<void>) => Promise<void>;

  class S3rver {
    constructor(options?: S3rverOptions);
    httpServer?: Server;
    /** Koa's middleware stack; the router is the last entry. */
    middleware: S3rverMiddleware[];
    /** The filesystem store behind the server. */
    store: S3rverStore;
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
  }

  export default S3rver;
  export type { S3rverContext, S3rverMiddleware, S3rverObject, S3rverStore, S3rverStoredObject };
}

declare module 's3rver/lib/models/error.js' {
  /** s3rver's S3 error: Koa turns it into the XML error answer with `status`. */
  class S3Error extends Error {
    constructor(code: string, message: string, detail?: Record<string, string>);
    status: number;
    expose: boolean;
  }
  export default S3Error;
}

declare module 's3rver/lib/models/object.js' {
  import type { S3rverStoredObject } from 's3rver';

  /** s3rver's object model: picks the allowed metadata out of what it is given. */
  class S3Object implements S3rverStoredObject {
    constructor(bucket: string, key: string, content: NodeJS.ReadableStream | null, metadata: Record<string, unknown>);
    content: NodeJS.ReadableStream | null;
    metadata: Record<string, string | number>;
    range?: { start: number; end: number };
  }
  export default S3Object;
}

declare module 's3rver/lib/models/account.js' {
  /** s3rver's accounts: its authentication looks an access key up in the process-wide registry. */
  class AWSAccount {
    createKeyPair(accessKeyId: string, secretAccessKey: string): void;
    static DUMMY_ACCOUNT: AWSAccount;
  }
  export = AWSAccount;
}
