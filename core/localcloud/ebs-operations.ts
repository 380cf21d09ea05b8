import { z } from 'zod';
import { BLOCK_SIZE, ZERO_BLOCK_SHA256_BASE64 } from '../blocks.js';
import type { FaultInjector } from './ebs-faults.js';
import type { TokenSigner } from './ebs-tokens.js';
import { validationError } from './errors.js';
import type { SnapshotInfo, SnapshotStore } from './snapshot-store.js';

/** The six operations of the EBS direct API. */
export const EBS_OPERATIONS = [
  'ListSnapshotBlocks',
  'ListChangedBlocks',
  'GetSnapshotBlock',
  'StartSnapshot',
  'PutSnapshotBlock',
  'CompleteSnapshot',
] as const;
export type EbsOperation = (typeof EBS_OPERATIONS)[number];

/** A routed request: path labels, decoded query, lower-case headers, the whole body. */
export interface EbsRequest {
  readonly snapshotId: string;
  readonly blockIndex: string;
  readonly query: ReadonlyMap<string, string>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** What the server writes back: JSON or raw bytes, with the status and headers of the service model. */
export interface EbsResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly json?: unknown;
  readonly body?: Buffer;
  /** Called once the response is sent (or abandoned): `body` may then be reused. */
  readonly release?: () => void;
}

/** Account id the local cloud reports as snapshot owner (s3rver's dummy account). */
const OWNER_ID = '123456789000';
const SNAPSHOT_ID = /^snap-[0-9a-f]+$/;
const MIN_RESULTS = 100;
const MAX_RESULTS = 10_000;
const MAX_POOLED_BUFFERS = 128;

const startSnapshotBody = z.object({
  VolumeSize: z.number().int(),
  ParentSnapshotId: z.string().optional(),
  Tags: z.array(z.object({ Key: z.string(), Value: z.string() })).optional(),
  Description: z.string().optional(),
  ClientToken: z.string().optional(),
  Encrypted: z.boolean().optional(),
  KmsKeyArn: z.string().optional(),
  Timeout: z.number().int().optional(),
});

/** The operations, translating between the wire shapes of the EBS direct API and the snapshot store. */
export class EbsOperations {
  private readonly buffers: Buffer[] = [];

  constructor(
    private readonly store: SnapshotStore,
    private readonly tokens: TokenSigner,
    private readonly faults: FaultInjector,
    private readonly onCorrupted: () => void,
  ) {}

  async ListSnapshotBlocks(request: EbsRequest): Promise<EbsResponse> {
    const snapshotId = checkSnapshotId(request.snapshotId);
    const { maxResults, position } = this.pageParams(request, `ListSnapshotBlocks:${snapshotId}`);
    const info = await this.store.get(snapshotId);
    const length = this.faults.pageLength(maxResults);
    // One more than the page holds tells whether a NextToken is due.
    const indexes = await this.store.listBlocks(snapshotId, position, length + 1);
    const expiry = this.tokens.blockTokenExpiry();
    const page = indexes.slice(0, length);
    const next = indexes[length];
    return ok(200, {
      Blocks: page.map((index) => ({
        BlockIndex: index,
        BlockToken: this.tokens.blockToken(snapshotId, index, expiry),
      })),
      ExpiryTime: expiry / 1000,
      VolumeSize: info.volumeSizeGiB,
      BlockSize: BLOCK_SIZE,
      ...(next === undefined ? {} : { NextToken: this.tokens.pageToken(`ListSnapshotBlocks:${snapshotId}`, next) }),
    });
  }

  async ListChangedBlocks(request: EbsRequest): Promise<EbsResponse> {
    const secondId = checkSnapshotId(request.snapshotId);
    const firstParam = request.query.get('firstSnapshotId');
    const firstId = firstParam === undefined ? undefined : checkSnapshotId(firstParam);
    const binding = `ListChangedBlocks:${firstId ?? ''}:${secondId}`;
    const { maxResults, position } = this.pageParams(request, binding);
    const info = await this.store.get(secondId);
    const length = this.faults.pageLength(maxResults);
    const entries = await this.store.changedBlocks(firstId, secondId, position, length + 1);
    const expiry = this.tokens.blockTokenExpiry();
    const next = entries[length];
    return ok(200, {
      ChangedBlocks: entries.slice(0, length).map((entry) => ({
        BlockIndex: entry.index,
        ...(entry.inFirst && firstId ? { FirstBlockToken: this.tokens.blockToken(firstId, entry.index, expiry) } : {}),
        ...(entry.inSecond ? { SecondBlockToken: this.tokens.blockToken(secondId, entry.index, expiry) } : {}),
      })),
      ExpiryTime: expiry / 1000,
      VolumeSize: info.volumeSizeGiB,
      BlockSize: BLOCK_SIZE,
      ...(next === undefined ? {} : { NextToken: this.tokens.pageToken(binding, next.index) }),
    });
  }

  async GetSnapshotBlock(request: EbsRequest): Promise<EbsResponse> {
    const snapshotId = checkSnapshotId(request.snapshotId);
    const index = integer(request.blockIndex, 'BlockIndex', 0, 2 ** 31);
    const token = request.query.get('blockToken');
    if (!token) throw validationError('INVALID_BLOCK_TOKEN', 'BlockToken is required');
    const digest = await this.store.blockSha256(snapshotId, index); // existence and state before the token
    this.tokens.verifyBlockToken(token, snapshotId, index);
    // Pooled buffers: a fresh 512 KiB buffer per call costs page faults and GC that cap the block rate.
    const buffer = this.buffers.pop() ?? Buffer.allocUnsafe(BLOCK_SIZE);
    const release = () => {
      if (this.buffers.length < MAX_POOLED_BUFFERS) this.buffers.push(buffer);
    };
    let data: Buffer;
    try {
      data = await this.store.readBlock(snapshotId, index, buffer);
    } catch (error) {
      release();
      throw error;
    }
    if (this.faults.takesCorruption()) {
      data = this.faults.corrupt(data);
      this.onCorrupted();
    }
    return {
      release,
      status: 200,
      headers: {
        'Content-Type': 'application/octet-stream',
        'x-amz-Data-Length': String(BLOCK_SIZE),
        'x-amz-Checksum': digest?.toString('base64') ?? ZERO_BLOCK_SHA256_BASE64,
        'x-amz-Checksum-Algorithm': 'SHA256',
      },
      body: data,
    };
  }

  async StartSnapshot(request: EbsRequest): Promise<EbsResponse> {
    const parsed = startSnapshotBody.safeParse(parseJson(request.body));
    if (!parsed.success)
      throw validationError('INVALID_PARAMETER_VALUE', `invalid StartSnapshot request: ${parsed.error.message}`);
    const body = parsed.data;
    if (body.ParentSnapshotId !== undefined) checkSnapshotId(body.ParentSnapshotId);
    const info = await this.store.start({
      volumeSizeGiB: body.VolumeSize,
      parentSnapshotId: body.ParentSnapshotId,
      clientToken: body.ClientToken,
      description: body.Description,
      tags: Object.fromEntries((body.Tags ?? []).map((tag) => [tag.Key, tag.Value])),
      timeoutMinutes: body.Timeout,
    });
    return ok(201, describe(info));
  }

  async PutSnapshotBlock(request: EbsRequest): Promise<EbsResponse> {
    const snapshotId = checkSnapshotId(request.snapshotId);
    const index = integer(request.blockIndex, 'BlockIndex', 0, 2 ** 31);
    const dataLength = integer(header(request, 'x-amz-data-length'), 'DataLength', 0, 2 ** 31);
    if (dataLength !== BLOCK_SIZE || request.body.length !== BLOCK_SIZE) {
      throw validationError('INVALID_PARAMETER_VALUE', `DataLength and the body must be ${BLOCK_SIZE} bytes`);
    }
    const checksum = header(request, 'x-amz-checksum');
    const algorithm = header(request, 'x-amz-checksum-algorithm');
    if (!checksum || algorithm !== 'SHA256') {
      throw validationError('INVALID_PARAMETER_VALUE', 'Checksum and ChecksumAlgorithm SHA256 are required');
    }
    const digest = await this.store.putBlock(snapshotId, index, request.body, checksum);
    return {
      status: 201,
      headers: { 'x-amz-Checksum': digest.toString('base64'), 'x-amz-Checksum-Algorithm': 'SHA256' },
    };
  }

  async CompleteSnapshot(request: EbsRequest): Promise<EbsResponse> {
    const snapshotId = checkSnapshotId(request.snapshotId);
    const count = integer(header(request, 'x-amz-changedblockscount'), 'ChangedBlocksCount', 0, 2 ** 31);
    const status = await this.store.complete(snapshotId, count, {
      checksum: header(request, 'x-amz-checksum'),
      algorithm: header(request, 'x-amz-checksum-algorithm'),
      aggregation: header(request, 'x-amz-checksum-aggregation-method'),
    });
    return ok(202, { Status: status });
  }

  private pageParams(request: EbsRequest, binding: string): { maxResults: number; position: number } {
    const max = request.query.get('maxResults');
    const maxResults = max === undefined ? MAX_RESULTS : integer(max, 'MaxResults', MIN_RESULTS, MAX_RESULTS);
    const start = request.query.get('startingBlockIndex');
    const startingBlockIndex = start === undefined ? 0 : integer(start, 'StartingBlockIndex', 0, 2 ** 31);
    const token = request.query.get('pageToken');
    return { maxResults, position: token ? this.tokens.pagePosition(token, binding) : startingBlockIndex };
  }
}

function describe(info: SnapshotInfo): Record<string, unknown> {
  return {
    SnapshotId: info.snapshotId,
    OwnerId: OWNER_ID,
    Status: info.status,
    StartTime: info.startTime.getTime() / 1000,
    VolumeSize: info.volumeSizeGiB,
    BlockSize: BLOCK_SIZE,
    Description: info.description,
    Tags: Object.entries(info.tags).map(([Key, Value]) => ({ Key, Value })),
    ...(info.parentSnapshotId === undefined ? {} : { ParentSnapshotId: info.parentSnapshotId }),
    SseType: 'none',
  };
}

function ok(status: number, json: unknown): EbsResponse {
  return { status, json };
}

function checkSnapshotId(id: string): string {
  if (!SNAPSHOT_ID.test(id)) throw validationError('INVALID_SNAPSHOT_ID', `${id} is not a snapshot id`);
  return id;
}

function integer(text: string | undefined, name: string, min: number, max: number): number {
  const value = text !== undefined && /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw validationError('INVALID_PARAMETER_VALUE', `${name} must be an integer in ${min}..${max}, got ${text}`);
  }
  return value;
}

function header(request: EbsRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.length === 0 ? '{}' : body.toString('utf8'));
  } catch {
    return undefined;
  }
}
