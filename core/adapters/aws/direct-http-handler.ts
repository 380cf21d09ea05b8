import { isIP, connect as netConnect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';

/**
 * The AWS SDK's HTTP transport for the block engine's clients (EBS and S3): HTTP/1.1 over keep-alive sockets that
 * read each response straight into one buffer — for a block or a segment, the buffer the engine will hash and write.
 *
 * Why not the SDK's node:http handler: Node's HTTP client allocates a fresh 64 KiB buffer for every socket read, copies
 * every body chunk a second time into another fresh buffer (the parser's `on_body`), and runs stream callbacks per
 * chunk; the engine then copied each chunk a third time into its segment. At ~2.5 GB of bodies per pass of 1.3 GiB
 * (blocks in, segments back) that is ~80,000 short-lived external buffers, whose pressure alone made V8 run a full
 * mark-compact every ~64 MiB. On the bench's loopback GetSnapshotBlock took ~2 ms of CPU per MiB through node:http and
 * ~0.2 ms here (docs/bench.md). Here the socket reads (`onread`, which `tls.connect` supports too) land in a small
 * reused buffer until the head is parsed, then directly in the body's buffer: no allocation per read, one copy (the
 * kernel's, or TLS's decryption) per byte.
 *
 * Scope, kept small on purpose: every response is read whole before the SDK sees it (the engine's bodies are a block
 * or a segment; nothing streams through these clients), request bodies are buffers or strings (a stream is read
 * first), `Expect: 100-continue` is not used (the body follows the head at once, which S3 accepts). Everything above
 * the transport — signing, endpoints, retries, error parsing — stays the SDK's.
 */

/** The SDK's request as it reaches its transport (@smithy/protocol-http's HttpRequest). */
export interface TransportRequest {
  readonly method: string;
  readonly protocol: string;
  readonly hostname: string;
  readonly port?: number | undefined;
  readonly path: string;
  readonly query?: Record<string, string | string[] | null> | undefined;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
  /** Set by `withRequestExtras` for one call. */
  [REQUEST_EXTRAS]?: RequestExtras | undefined;
}

export interface TransportResponse {
  readonly statusCode: number;
  readonly reason?: string | undefined;
  readonly headers: Record<string, string>;
  readonly body: BufferedBody;
}

/** What one call may ask of the transport beyond the SDK's request: set on the command's input with
 * `withRequestExtras`, carried to the request by `requestExtrasMiddleware`. */
export interface RequestExtras {
  /** Where a 2xx body goes: read into this buffer when it is exactly the body's length, or into the buffer this
   * function returns for the declared length (undefined, or one of another length: a fresh buffer). */
  readonly bodyInto?: Buffer | ((length: number) => Buffer | undefined) | undefined;
  /** Aborts the call (an AbortError), as the SDK's `abortSignal` would, without making the SDK re-resolve its
   * middleware for the call (any per-call option to `send` does). */
  readonly signal?: AbortSignal | undefined;
}

export const REQUEST_EXTRAS = Symbol('homebound.requestExtras');

/** Attaches extras to a command's input (a symbol-keyed property the SDK's serializers do not see). */
export function withRequestExtras<T extends object>(input: T, extras: RequestExtras): T {
  return Object.assign(input, { [REQUEST_EXTRAS]: extras });
}

/** The SDK middleware that moves a command's extras onto its final (signed) request. Innermost, so the request it
 * marks is the object the transport receives. */
export const requestExtrasMiddleware = {
  middleware:
    (next: (args: MiddlewareArgs) => Promise<unknown>) =>
    (args: MiddlewareArgs): Promise<unknown> => {
      const extras = (args.input as { [REQUEST_EXTRAS]?: RequestExtras } | undefined)?.[REQUEST_EXTRAS];
      if (extras && args.request && typeof args.request === 'object') {
        (args.request as TransportRequest)[REQUEST_EXTRAS] = extras;
      }
      return next(args);
    },
  options: { step: 'deserialize', priority: 'low', name: 'homeboundRequestExtras', override: true },
} as const;

interface MiddlewareArgs {
  readonly input?: unknown;
  readonly request?: unknown;
}

/** A response body already read whole: a Readable (the SDK's stream helpers need one) that also hands out the
 * buffer, so a reader can take it without a copy (`wholeBody`). */
export class BufferedBody extends Readable {
  constructor(readonly buffer: Buffer) {
    super();
  }

  override _read(): void {
    if (this.buffer.length > 0) this.push(this.buffer);
    this.push(null);
  }
}

/** The whole body when the transport read it, else undefined (a body from another transport). */
export function wholeBody(body: unknown): Buffer | undefined {
  return body instanceof BufferedBody && !body.readableDidRead ? body.buffer : undefined;
}

export interface DirectHttpHandlerOptions {
  /** Sockets per origin, in use or idle. */
  readonly maxSockets: number;
  /** Giving up on a connection that does not complete (TCP and TLS) within this. */
  readonly connectionTimeoutMs: number;
  /** A call whose socket stays silent this long fails with a TimeoutError (the SDK's requestTimeout). */
  readonly requestTimeoutMs: number;
  /** Certificate authorities trusted for HTTPS instead of Node's bundled ones (tests; a private on-prem store's CA
   * goes in NODE_EXTRA_CA_CERTS, which adds to them). */
  readonly ca?: string | undefined;
}

const HEAD_LIMIT = 64 * 1024;
const SCRATCH_BYTES = 16 * 1024;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
/** Methods sent without a Content-Length when they carry no body. */
const BODYLESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);
/** How a kept-alive socket that the server has closed fails the next request on it. */
const STALE_CODES = new Set(['ECONNRESET', 'EPIPE']);

export class DirectHttpHandler {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly options: DirectHttpHandlerOptions) {}

  async handle(request: TransportRequest, handlerOptions: { abortSignal?: unknown } = {}) {
    const extras = request[REQUEST_EXTRAS];
    // The SDK types its signal as a minimal interface; what it passes on is the caller's AbortSignal.
    const signal = (handlerOptions.abortSignal as AbortSignal | undefined) ?? extras?.signal;
    if (signal?.aborted) throw abortError(signal);
    const body = await requestBody(request.body);
    const head = requestHead(request, body);
    const pool = this.poolFor(request);
    for (let attempt = 1; ; attempt++) {
      const connection = await pool.take(signal);
      const reused = connection.exchanges > 0;
      try {
        const response = await connection.exchange(head, body, request.method, extras?.bodyInto, signal);
        pool.give(connection);
        return { response };
      } catch (error) {
        pool.discard(connection);
        // A kept-alive socket the server closed while it sat idle fails before a byte of the response; a fresh
        // one is the usual cure, and safe when the method is idempotent.
        const stale =
          error instanceof ConnectionError && error.beforeResponse && STALE_CODES.has(codeOf(error.original));
        if (!(stale && reused && attempt === 1 && !signal?.aborted && IDEMPOTENT.has(request.method))) {
          throw unwrap(error);
        }
      }
    }
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {
    for (const pool of this.pools.values()) pool.destroy();
    this.pools.clear();
  }

  private poolFor(request: TransportRequest): Pool {
    const secure = request.protocol === 'https:';
    const host = request.hostname.startsWith('[') ? request.hostname.slice(1, -1) : request.hostname;
    const port = request.port ?? (secure ? 443 : 80);
    const key = `${secure ? 'https' : 'http'}://${host}:${port}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(() => new Connection(secure, host, port, this.options), this.options.maxSockets);
      this.pools.set(key, pool);
    }
    return pool;
  }
}

/** Keep-alive connections to one origin, at most `max` at once; callers beyond wait in turn. */
class Pool {
  private readonly idle: Connection[] = [];
  private readonly waiting: { resolve: (connection: Connection) => void }[] = [];
  private open = 0;

  constructor(
    private readonly create: () => Connection,
    private readonly max: number,
  ) {}

  take(signal?: AbortSignal): Promise<Connection> {
    for (let connection = this.idle.pop(); connection; connection = this.idle.pop()) {
      if (connection.usable) return Promise.resolve(connection.inUse());
      this.open -= 1;
      connection.destroy();
    }
    if (this.open < this.max) {
      this.open += 1;
      return Promise.resolve(this.create());
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(abortError(signal as AbortSignal));
      };
      const waiter = {
        resolve: (connection: Connection) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(connection.inUse());
        },
      };
      this.waiting.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  give(connection: Connection): void {
    if (!connection.usable) {
      this.discard(connection);
      return;
    }
    const waiter = this.waiting.shift();
    if (waiter) waiter.resolve(connection);
    else this.idle.push(connection.idleNow());
  }

  discard(connection: Connection): void {
    connection.destroy();
    const waiter = this.waiting.shift();
    if (waiter) waiter.resolve(this.create());
    else this.open -= 1;
  }

  destroy(): void {
    for (const connection of this.idle.splice(0)) connection.destroy();
    this.open = 0;
  }
}

/** A failure of the connection itself (not an HTTP error status). */
class ConnectionError extends Error {
  constructor(
    readonly original: Error,
    readonly beforeResponse: boolean,
  ) {
    super(original.message);
  }
}

function unwrap(error: unknown): unknown {
  return error instanceof ConnectionError ? error.original : error;
}

type BodyMode = 'none' | 'length' | 'chunked' | 'close';

/** One socket and the exchange in flight on it, if any. */
class Connection {
  exchanges = 0;
  private readonly socket: Socket;
  private readonly scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
  private closed = false;
  private current: Exchange | undefined;

  constructor(
    secure: boolean,
    host: string,
    port: number,
    private readonly options: DirectHttpHandlerOptions,
  ) {
    const onread = { buffer: () => this.nextReadBuffer(), callback: (n: number) => this.onRead(n) };
    this.socket = secure
      ? // tls.connect takes `onread` as net.connect does (Node ≥ 15); @types/node lists it for net only.
        tlsConnect({
          host,
          port,
          servername: isIP(host) ? '' : host,
          ALPNProtocols: ['http/1.1'],
          ...(options.ca === undefined ? {} : { ca: options.ca }),
          onread,
        } as ConnectionOptions)
      : netConnect({ host, port, onread });
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, 1000);
    const connectTimer = setTimeout(() => {
      this.socket.destroy(named(new Error(`connection to ${host}:${port} timed out`), 'TimeoutError', 'ETIMEDOUT'));
    }, options.connectionTimeoutMs);
    this.socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    this.socket.on('timeout', () => {
      const error = named(new Error(`no response from ${host} in ${options.requestTimeoutMs} ms`), 'TimeoutError');
      this.socket.destroy(error);
    });
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('close', () => {
      this.closed = true;
      clearTimeout(connectTimer);
      this.fail(Object.assign(new Error(`connection to ${host} closed`), { code: 'ECONNRESET' }));
    });
  }

  get usable(): boolean {
    return !this.closed && !this.socket.destroyed && this.current === undefined;
  }

  inUse(): this {
    this.socket.ref();
    return this;
  }

  idleNow(): this {
    this.socket.setTimeout(0);
    this.socket.unref();
    return this;
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  exchange(
    head: string,
    body: Buffer | undefined,
    method: string,
    bodyInto: RequestExtras['bodyInto'],
    signal: AbortSignal | undefined,
  ): Promise<TransportResponse> {
    this.exchanges += 1;
    this.socket.ref();
    this.socket.setTimeout(this.options.requestTimeoutMs);
    return new Promise<TransportResponse>((resolve, reject) => {
      const exchange = new Exchange(method === 'HEAD', bodyInto, this.scratch, resolve, reject);
      this.current = exchange;
      const onAbort = () => this.socket.destroy(abortError(signal as AbortSignal));
      if (signal) {
        signal.addEventListener('abort', onAbort, { once: true });
        exchange.onSettle = () => signal.removeEventListener('abort', onAbort);
      }
      if (body && body.length > 0) sendWithBody(this.socket, head, body);
      else this.socket.write(head, 'latin1');
    }).finally(() => {
      this.current = undefined;
    });
  }

  private nextReadBuffer(): Buffer {
    return this.current?.readBuffer() ?? this.scratch;
  }

  private onRead(n: number): boolean {
    const exchange = this.current;
    if (!exchange) {
      // Bytes nobody asked for (a server talking out of turn): the connection can no longer be trusted.
      this.socket.destroy();
      return false;
    }
    try {
      exchange.received(n);
      if (exchange.done && exchange.keepAlive === false) this.closed = true;
    } catch (error) {
      this.socket.destroy(error as Error);
    }
    return true;
  }

  private onEnd(): void {
    this.current?.ended();
    this.closed = true;
    this.socket.destroy();
  }

  private fail(error: Error): void {
    this.closed = true;
    const exchange = this.current;
    if (exchange && !exchange.done) exchange.fail(new ConnectionError(error, !exchange.responseStarted));
  }
}

/** One request's response, parsed as the socket delivers it. */
class Exchange {
  done = false;
  responseStarted = false;
  keepAlive: boolean | undefined;
  onSettle: (() => void) | undefined;
  private partialHead: Buffer | undefined;
  private statusCode = 0;
  private reason = '';
  private headers: Record<string, string> = {};
  private mode: BodyMode | undefined;
  private body: Buffer | undefined;
  private filled = 0;
  private readonly parts: Buffer[] = [];
  private chunked: ChunkedDecoder | undefined;

  constructor(
    private readonly isHead: boolean,
    private readonly bodyInto: RequestExtras['bodyInto'],
    private readonly scratch: Buffer,
    private readonly resolve: (response: TransportResponse) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  /** Where the socket's next read lands: the rest of the body's buffer once its length is known, else the scratch
   * buffer (for the head, a chunked body or a body read to the end). */
  readBuffer(): Buffer {
    if (this.mode === 'length' && this.body && this.filled < this.body.length) return this.body.subarray(this.filled);
    return this.scratch;
  }

  received(n: number): void {
    this.responseStarted = true;
    if (this.mode === 'length') {
      // Read straight into the body (readBuffer): only the count moves.
      this.filled += n;
      if (this.filled === (this.body as Buffer).length) this.finish();
      return;
    }
    if (this.mode === undefined) this.receivedHead(this.scratch.subarray(0, n));
    else this.receivedBody(this.scratch.subarray(0, n));
  }

  ended(): void {
    if (this.done) return;
    if (this.mode === 'close') {
      this.finish();
      return;
    }
    this.fail(
      new ConnectionError(
        Object.assign(new Error('connection closed before the response ended'), { code: 'ECONNRESET' }),
        !this.responseStarted,
      ),
    );
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.onSettle?.();
    this.reject(error);
  }

  private receivedHead(incoming: Buffer): void {
    // A head split over reads is kept apart from scratch, which the next read overwrites.
    const head = this.partialHead ? Buffer.concat([this.partialHead, incoming]) : incoming;
    this.partialHead = undefined;
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length >= HEAD_LIMIT) throw new Error(`response head longer than ${HEAD_LIMIT} bytes`);
      this.partialHead = head === incoming ? Buffer.from(head) : head;
      return;
    }
    this.parseHead(head.toString('latin1', 0, end));
    const rest = head.subarray(end + 4);
    if (this.statusCode < 200) {
      // An interim response (100 Continue): the real one follows.
      this.headers = {};
      if (rest.length > 0) this.receivedHead(rest);
      return;
    }
    this.startBody();
    if (rest.length === 0 || this.done) return;
    if (this.mode !== 'length') {
      this.receivedBody(rest);
      return;
    }
    const body = this.body as Buffer;
    if (rest.length > body.length - this.filled) throw new Error('response body longer than its Content-Length');
    rest.copy(body, this.filled);
    this.filled += rest.length;
    if (this.filled === body.length) this.finish();
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
    if (!status) throw new Error(`not an HTTP/1.1 response: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    this.statusCode = Number(status[1]);
    this.reason = status[2] ?? '';
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`malformed response header line ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    this.headers = headers;
    const connection = headers.connection?.toLowerCase();
    this.keepAlive = connection === undefined ? status[0].startsWith('HTTP/1.1') : connection === 'keep-alive';
  }

  private startBody(): void {
    const { headers, statusCode } = this;
    if (this.isHead || statusCode === 204 || statusCode === 304) {
      this.mode = 'none';
      this.body = Buffer.alloc(0);
      this.finish();
      return;
    }
    if (headers['transfer-encoding'] !== undefined) {
      if (!/(^|,)\s*chunked\s*$/i.test(headers['transfer-encoding'])) {
        throw new Error(`unsupported Transfer-Encoding ${headers['transfer-encoding']}`);
      }
      this.mode = 'chunked';
      this.chunked = new ChunkedDecoder();
      return;
    }
    const declared = headers['content-length'];
    if (declared === undefined) {
      this.mode = 'close';
      this.keepAlive = false;
      return;
    }
    const length = Number(declared);
    if (!/^\d+$/.test(declared) || !Number.isSafeInteger(length)) throw new Error(`bad Content-Length ${declared}`);
    this.mode = 'length';
    const wanted = statusCode >= 200 && statusCode < 300 ? this.bodyInto : undefined;
    const into = typeof wanted === 'function' ? wanted(length) : wanted;
    this.body = into?.length === length ? into : Buffer.allocUnsafe(length);
    if (length === 0) this.finish();
  }

  private receivedBody(bytes: Buffer): void {
    if (this.mode === 'close') {
      this.parts.push(Buffer.from(bytes));
      return;
    }
    const decoder = this.chunked as ChunkedDecoder;
    decoder.push(bytes);
    if (decoder.complete) {
      this.body = decoder.body();
      this.finish();
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.onSettle?.();
    const body = this.mode === 'close' ? Buffer.concat(this.parts) : (this.body as Buffer);
    this.resolve({
      statusCode: this.statusCode,
      reason: this.reason,
      headers: this.headers,
      body: new BufferedBody(body),
    });
  }
}

/** Decodes a chunked body (RFC 9112 §7.1) as it arrives; trailers are read and dropped. */
class ChunkedDecoder {
  complete = false;
  private readonly parts: Buffer[] = [];
  private pending = Buffer.alloc(0);
  private remaining = -1; // bytes left in the current chunk's data; -1 while a size line is expected
  private trailers = false;

  push(bytes: Buffer): void {
    let input = this.pending.length > 0 ? Buffer.concat([this.pending, bytes]) : bytes;
    this.pending = Buffer.alloc(0);
    while (input.length > 0 && !this.complete) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, input.length);
        this.parts.push(Buffer.from(input.subarray(0, take)));
        this.remaining -= take;
        input = input.subarray(take);
        continue;
      }
      const eol = input.indexOf('\r\n');
      if (eol < 0) {
        if (input.length > HEAD_LIMIT) throw new Error('chunk size line too long');
        this.pending = Buffer.from(input);
        return;
      }
      const line = input.toString('latin1', 0, eol);
      input = input.subarray(eol + 2);
      if (this.trailers) {
        if (line === '') this.complete = true;
        continue;
      }
      if (this.remaining === 0) {
        // The CRLF after a chunk's data.
        if (line !== '') throw new Error('malformed chunked body');
        this.remaining = -1;
        continue;
      }
      const size = Number.parseInt(line.split(';')[0] as string, 16);
      if (!Number.isSafeInteger(size) || size < 0) throw new Error(`bad chunk size ${JSON.stringify(line)}`);
      if (size === 0) this.trailers = true;
      else this.remaining = size;
    }
  }

  body(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Head and body in one write (the bench's stage profile counts this function as "upload"). */
function sendWithBody(socket: Socket, head: string, body: Buffer): void {
  socket.cork();
  socket.write(head, 'latin1');
  socket.write(body);
  socket.uncork();
}

async function requestBody(body: unknown): Promise<Buffer | undefined> {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof Readable) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
    return Buffer.concat(chunks);
  }
  throw new TypeError(`cannot send a request body of type ${Object.prototype.toString.call(body)}`);
}

function requestHead(request: TransportRequest, body: Buffer | undefined): string {
  const query = request.query ? queryString(request.query) : '';
  let head = `${request.method} ${request.path}${query ? `?${query}` : ''} HTTP/1.1\r\n`;
  let hasHost = false;
  let hasLength = false;
  for (const [name, value] of Object.entries(request.headers)) {
    const lower = name.toLowerCase();
    if (lower === 'expect' || lower === 'connection' || lower === 'transfer-encoding') continue;
    if (lower === 'host') hasHost = true;
    if (lower === 'content-length') hasLength = true;
    if (/[\r\n]/.test(value)) throw new TypeError(`header ${name} holds a line break`);
    head += `${name}: ${value}\r\n`;
  }
  if (!hasHost) head += `host: ${request.hostname}${request.port ? `:${request.port}` : ''}\r\n`;
  if (!hasLength && (body || !BODYLESS.has(request.method))) {
    head += `content-length: ${body?.length ?? 0}\r\n`;
  }
  return `${head}\r\n`;
}

/** The query as the SDK's own transport writes it (@smithy/querystring-builder): keys sorted as given, each part
 * URI-escaped, a null value as a bare key, an array as the key repeated. */
function queryString(query: Record<string, string | string[] | null>): string {
  const parts: string[] = [];
  for (const key of Object.keys(query)) {
    const value = query[key];
    const name = escapeUri(key);
    if (Array.isArray(value)) for (const item of value) parts.push(`${name}=${escapeUri(item)}`);
    else if (value === null || value === undefined) parts.push(name);
    else parts.push(`${name}=${escapeUri(value)}`);
  }
  return parts.join('&');
}

function escapeUri(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function codeOf(error: Error): string {
  return (error as NodeJS.ErrnoException).code ?? '';
}

function named(error: Error, name: string, code?: string): Error {
  return Object.assign(error, { name }, code ? { code } : {});
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason instanceof Error ? signal.reason.message : 'Request aborted';
  return named(new Error(reason), 'AbortError');
}
