/**
 * Ports: the interfaces where homebound meets the outside world. The engine speaks only to these; the AWS adapters
 * (real SDK clients) and the local cloud implement them, so swapping AWS for the local cloud is configuration.
 */

/** One listed block of a snapshot: its index and the token GetSnapshotBlock needs. */
export interface BlockRef {
  readonly index: number;
  /** Block token of the snapshot being read; absent when that snapshot no longer has the block (read as zeros). */
  readonly token?: string | undefined;
}

export interface BlockPage {
  readonly blocks: readonly BlockRef[];
  readonly nextToken?: string | undefined;
  /** Volume size reported by the service, in bytes (EBS reports whole GiB). */
  readonly volumeSizeBytes: number;
  readonly blockSize: number;
}

export interface ListOptions {
  readonly maxResults?: number;
  readonly nextToken?: string | undefined;
  readonly startingBlockIndex?: number;
}

export interface FetchedBlock {
  readonly data: Buffer;
  /** base64 SHA-256 the service claims for `data`. */
  readonly checksum: string;
  readonly dataLength: number;
}

/** Read side of the EBS direct APIs. Errors are core errors (see errors.ts). */
export interface BlockSource {
  listSnapshotBlocks(snapshotId: string, options?: ListOptions): Promise<BlockPage>;
  /** Blocks that differ between `firstSnapshotId` (older) and `secondSnapshotId`; tokens are of the second. */
  listChangedBlocks(firstSnapshotId: string, secondSnapshotId: string, options?: ListOptions): Promise<BlockPage>;
  /** `into`: a BLOCK_SIZE buffer of the caller's; a source may read the block into it and return it as `data`.
   * `signal` aborts the call in flight. */
  getSnapshotBlock(
    snapshotId: string,
    blockIndex: number,
    blockToken: string,
    into?: Buffer,
    signal?: AbortSignal,
  ): Promise<FetchedBlock>;
}

export interface StagedObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface PutOptions {
  /** SHA-256 (hex) of the body when the caller already computed it: sent as the signed payload hash, so S3 checks
   * the upload against it and the client does not hash the body a second time. */
  readonly sha256?: string;
  /** Leave the body out of the signature (UNSIGNED-PAYLOAD): for content the caller verifies end to end itself, so
   * neither the client nor S3 hashes it. */
  readonly unsignedPayload?: boolean;
}

export interface GetOptions {
  /** Where a body of known length goes (e.g. a recycled buffer); must return exactly `size` bytes. */
  readonly allocate?: (size: number) => Buffer;
}

/** S3-compatible object staging. Keys are relative to the staging root (bucket + prefix). */
export interface Staging {
  /** Fails with StagingBucketNotFoundError when the bucket is missing. */
  assertReady(): Promise<void>;
  /** Once the returned promise settles the body is the caller's again (it may be reused): do not keep it. */
  put(key: string, body: Uint8Array, metadata?: Record<string, string>, options?: PutOptions): Promise<void>;
  /** Fails with StagedObjectMissingError when absent. */
  get(key: string, options?: GetOptions): Promise<Buffer>;
  /** undefined when absent. */
  head(key: string): Promise<StagedObjectInfo | undefined>;
  list(prefix: string): Promise<string[]>;
  deletePrefix(prefix: string): Promise<number>;
  /** A human-readable name for messages, e.g. s3://bucket/prefix. */
  readonly description: string;
}

/** A disk the applier writes: an image file or a block device, addressed by byte offset. */
export interface BlockTarget {
  readonly path: string;
  readonly sizeBytes: number;
  write(data: Uint8Array, offset: number): Promise<void>;
  read(length: number, offset: number): Promise<Buffer>;
  /** Make every block written so far durable (fdatasync). */
  sync(): Promise<void>;
  /** Make [0, sizeBytes) read as zeros, cheaply where the medium allows (a sparse file is truncated). */
  blank(sizeBytes: number): Promise<void>;
  close(): Promise<void>;
}
