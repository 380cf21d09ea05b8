import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidInputError, SnapshotNotFoundError, SnapshotNotReadyError, UnrelatedSnapshotsError } from '../errors.js';
import { type EbsFaults, FaultInjector } from './ebs-faults.js';
import {
  EBS_OPERATIONS,
  type EbsOperation,
  EbsOperations,
  type EbsRequest,
  type EbsResponse,
} from './ebs-operations.js';
import { TokenSigner } from './ebs-tokens.js';
import { EBS_ERROR_STATUS, EbsApiError, type EbsErrorType, validationError } from './errors.js';
import { type LocalCredentials, percentDecode, verifySigV4 } from './sigv4.js';
import type { SnapshotStore } from './snapshot-store.js';

export type { EbsFaults } from './ebs-faults.js';
export type { EbsOperation } from './ebs-operations.js';

/** Options of `EbsServer.start`. */
export interface EbsServerOptions {
  readonly store: SnapshotStore;
  /** The only key pair accepted (SigV4). */
  readonly credentials: LocalCredentials;
  /** @default no faults */
  readonly faults?: EbsFaults;
  /** Seed of the fault PRNG. @default 1 */
  readonly seed?: number;
  /** @default 0 (an ephemeral port) */
  readonly port?: number;
  /** Check the whole SigV4 signature, not only the access key id. @default true */
  readonly verifySignatures?: boolean;
}

/** Counters since start (or `resetStats`). */
export interface EbsServerStats {
  readonly calls: Readonly<Record<EbsOperation, number>>;
  /** Answered with RequestThrottledException. */
  readonly throttled: number;
  /** Answered with a 5xx (injected or not). */
  readonly errors: number;
  /** Answered with any other 4xx. */
  readonly rejected: number;
  /** GetSnapshotBlock answers that carried corrupted bytes. */
  readonly corrupted: number;
  /** Block bytes sent by GetSnapshotBlock / accepted by PutSnapshotBlock. */
  readonly bytesServed: number;
  readonly bytesReceived: number;
}

/** GetSnapshotBlock arrivals for one snapshot (EbsServer.blockReadsOf). */
export interface BlockReadCounts {
  /** In each whole second of the server's clock, from the first that saw one to the last (quiet ones count 0). */
  readonly perSecond: readonly number[];
  /** The most that arrived within any 1,000 ms, wherever it starts. */
  readonly busiestSecond: number;
}

interface BlockReadTally {
  readonly perSecond: Map<number, number>;
  /** Arrival times (ms) within the last 1,000 ms. */
  readonly lastSecond: number[];
  busiest: number;
}

const MAX_BODY_BYTES = 1024 * 1024;

const ROUTES: readonly { method: string; path: RegExp; operation: EbsOperation }[] = [
  { method: 'GET', path: /^\/snapshots\/([^/]+)\/blocks$/, operation: 'ListSnapshotBlocks' },
  { method: 'GET', path: /^\/snapshots\/([^/]+)\/changedblocks$/, operation: 'ListChangedBlocks' },
  { method: 'GET', path: /^\/snapshots\/([^/]+)\/blocks\/([^/]+)$/, operation: 'GetSnapshotBlock' },
  { method: 'POST', path: /^\/snapshots$/, operation: 'StartSnapshot' },
  { method: 'PUT', path: /^\/snapshots\/([^/]+)\/blocks\/([^/]+)$/, operation: 'PutSnapshotBlock' },
  { method: 'POST', path: /^\/snapshots\/completion\/([^/]+)$/, operation: 'CompleteSnapshot' },
];

const BLOCK_OPERATIONS: ReadonlySet<EbsOperation> = new Set(['GetSnapshotBlock', 'PutSnapshotBlock']);

/**
 * The EBS direct API (restJson1, as the service model in @aws-sdk/client-ebs defines it) over a SnapshotStore, on
 * 127.0.0.1, so the unmodified SDK and the AWS CLI work against it through an endpoint override. Injects the faults
 * of EbsFaults and counts what it answered.
 */
export class EbsServer {
  private readonly faultInjector: FaultInjector;
  private readonly operations: EbsOperations;
  private counters = emptyStats();
  private blockReads = new Map<string, BlockReadTally>();

  private constructor(
    private readonly options: EbsServerOptions,
    private readonly server: Server,
  ) {
    this.faultInjector = new FaultInjector(options.faults, options.seed ?? 1);
    this.operations = new EbsOperations(options.store, new TokenSigner(), this.faultInjector, () => {
      this.counters.corrupted += 1;
    });
  }

  /** Starts listening on 127.0.0.1. Throws when the port is taken. */
  static async start(options: EbsServerOptions): Promise<EbsServer> {
    const server = createServer({ keepAlive: true, keepAliveTimeout: 60_000 });
    const ebs = new EbsServer(options, server);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      ebs.handle(request, response).catch((error: unknown) => response.destroy(error as Error));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    return ebs;
  }

  /** Base URL for `new EBSClient({ endpoint })`. */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Changes the given fault knobs, keeping the others. Throws RangeError for a rate outside 0..1. */
  setFaults(faults: EbsFaults): void {
    this.faultInjector.set(faults);
  }

  get faults(): EbsFaults {
    return this.faultInjector.current;
  }

  get stats(): EbsServerStats {
    return { ...this.counters, calls: { ...this.counters.calls } };
  }

  resetStats(): void {
    this.counters = emptyStats();
    this.blockReads = new Map();
  }

  /**
   * The GetSnapshotBlock requests that arrived for `snapshotId` — what the per-snapshot quota limits — counted at
   * arrival, throttled ones included, as AWS counts them; since start or `resetStats`.
   */
  blockReadsOf(snapshotId: string): BlockReadCounts {
    const tally = this.blockReads.get(snapshotId);
    if (!tally) return { perSecond: [], busiestSecond: 0 };
    const first = Math.min(...tally.perSecond.keys());
    const last = Math.max(...tally.perSecond.keys());
    return {
      perSecond: Array.from({ length: last - first + 1 }, (_, i) => tally.perSecond.get(first + i) ?? 0),
      busiestSecond: tally.busiest,
    };
  }

  /** Stops listening and drops kept-alive connections. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const rawUrl = request.url ?? '/';
    const [path = '/', rawQuery = ''] = rawUrl.split('?', 2);
    const route = ROUTES.find((candidate) => candidate.method === request.method && candidate.path.test(path));
    let answer: EbsResponse;
    try {
      const body = await readBody(request);
      if (!route)
        throw new EbsApiError(
          'ValidationException',
          'INVALID_PARAMETER_VALUE',
          `no operation at ${request.method} ${path}`,
        );
      const { operation } = route;
      this.counters.calls[operation] += 1;
      if (this.options.verifySignatures === false) {
        verifyAccessKeyOnly(request, this.options.credentials);
      } else {
        verifySigV4(
          { method: request.method ?? 'GET', rawUrl, headers: request.headers, body },
          this.options.credentials,
          'ebs',
        );
      }
      const [, snapshotId = '', blockIndex = ''] = (route.path.exec(path) ?? []).map((part) => percentDecode(part));
      if (operation === 'GetSnapshotBlock') this.countBlockRead(snapshotId);
      // Faults are decided at arrival, as AWS counts a request against the quota when it arrives.
      if (this.faultInjector.failsAtArrival()) {
        throw new EbsApiError('InternalServerException', undefined, 'injected internal error (local cloud errorRate)');
      }
      if (BLOCK_OPERATIONS.has(operation) && this.faultInjector.throttlesAtArrival(snapshotId)) {
        throw new EbsApiError(
          'RequestThrottledException',
          'RESOURCE_LEVEL_THROTTLE',
          `too many requests for ${snapshotId}`,
        );
      }
      const ebsRequest: EbsRequest = {
        snapshotId,
        blockIndex,
        query: parseQuery(rawQuery),
        headers: request.headers,
        body,
      };
      answer = await this.operations[operation](ebsRequest);
      if (operation === 'GetSnapshotBlock') this.counters.bytesServed += answer.body?.length ?? 0;
      if (operation === 'PutSnapshotBlock') this.counters.bytesReceived += body.length;
    } catch (error) {
      answer = this.errorResponse(error);
    }
    if (this.faultInjector.latencyMs > 0) await sleep(this.faultInjector.latencyMs);
    send(response, answer);
  }

  private countBlockRead(snapshotId: string): void {
    const now = performance.now();
    const tally: BlockReadTally = this.blockReads.get(snapshotId) ?? {
      perSecond: new Map(),
      lastSecond: [],
      busiest: 0,
    };
    const second = Math.floor(now / 1000);
    tally.perSecond.set(second, (tally.perSecond.get(second) ?? 0) + 1);
    // Only the arrivals of the last 1,000 ms are kept: memory stays bounded by the rate, whatever the run's length.
    while ((tally.lastSecond[0] ?? now) <= now - 1000) tally.lastSecond.shift();
    tally.lastSecond.push(now);
    tally.busiest = Math.max(tally.busiest, tally.lastSecond.length);
    this.blockReads.set(snapshotId, tally);
  }

  // The one place where errors become EBS error types, HTTP statuses and Reasons.
  private errorResponse(error: unknown): EbsResponse {
    const [type, reason, message] = classify(error);
    const status = EBS_ERROR_STATUS[type];
    if (type === 'RequestThrottledException') this.counters.throttled += 1;
    else if (status >= 500) this.counters.errors += 1;
    else this.counters.rejected += 1;
    return {
      status,
      headers: { 'x-amzn-ErrorType': type },
      json: { message, Message: message, ...(reason === undefined ? {} : { Reason: reason }) },
    };
  }
}

function classify(error: unknown): [EbsErrorType, string | undefined, string] {
  if (error instanceof EbsApiError) return [error.errorType, error.reason, error.message];
  if (error instanceof SnapshotNotFoundError) return ['ResourceNotFoundException', 'SNAPSHOT_NOT_FOUND', error.message];
  if (error instanceof SnapshotNotReadyError) return ['ValidationException', 'INVALID_SNAPSHOT_ID', error.message];
  if (error instanceof UnrelatedSnapshotsError) return ['ValidationException', 'UNRELATED_SNAPSHOTS', error.message];
  if (error instanceof InvalidInputError) return ['ValidationException', 'INVALID_PARAMETER_VALUE', error.message];
  return ['InternalServerException', undefined, `internal error: ${(error as Error)?.message ?? String(error)}`];
}

function send(response: ServerResponse, answer: EbsResponse): void {
  if (answer.release) response.once('close', answer.release);
  const body = answer.body ?? (answer.json === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(answer.json)));
  response.writeHead(answer.status, {
    ...(answer.json === undefined ? {} : { 'Content-Type': 'application/json' }),
    ...answer.headers,
    'Content-Length': String(body.length),
    'x-amzn-RequestId': randomUUID(),
  });
  response.end(body);
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES)
    throw validationError('INVALID_PARAMETER_VALUE', `request body over ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request) {
    length += (chunk as Buffer).length;
    if (length > MAX_BODY_BYTES)
      throw validationError('INVALID_PARAMETER_VALUE', `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length);
}

function parseQuery(raw: string): Map<string, string> {
  const query = new Map<string, string>();
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    query.set(percentDecode(at < 0 ? pair : pair.slice(0, at)), percentDecode(at < 0 ? '' : pair.slice(at + 1)));
  }
  return query;
}

function verifyAccessKeyOnly(request: IncomingMessage, credentials: LocalCredentials): void {
  const accessKeyId = /Credential=([^/]+)\//.exec(request.headers.authorization ?? '')?.[1];
  if (accessKeyId !== credentials.accessKeyId) {
    throw new EbsApiError('AccessDeniedException', 'UNAUTHORIZED_ACCOUNT', `access key ${accessKeyId} is not known`);
  }
}

function emptyStats(): {
  -readonly [K in keyof EbsServerStats]: K extends 'calls' ? Record<EbsOperation, number> : number;
} {
  return {
    calls: Object.fromEntries(EBS_OPERATIONS.map((operation) => [operation, 0])) as Record<EbsOperation, number>,
    throttled: 0,
    errors: 0,
    rejected: 0,
    corrupted: 0,
    bytesServed: 0,
    bytesReceived: 0,
  };
}
