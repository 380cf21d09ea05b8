import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DirectHttpHandler,
  REQUEST_EXTRAS,
  type RequestExtras,
  type TransportRequest,
  wholeBody,
} from '../../core/adapters/aws/direct-http-handler.js';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { SnapshotNotFoundError } from '../../core/errors.js';
import { createVolume, snapshotVolume, writeVolumeBlocks } from '../../core/localcloud/index.js';
import { startTestCloud } from '../support/local-cloud.js';
import { makeTestCertificate } from '../support/test-ca.js';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function handler(options: Partial<ConstructorParameters<typeof DirectHttpHandler>[0]> = {}): DirectHttpHandler {
  const made = new DirectHttpHandler({
    maxSockets: 8,
    connectionTimeoutMs: 2_000,
    requestTimeoutMs: 5_000,
    ...options,
  });
  closers.push(() => made.destroy());
  return made;
}

function request(port: number, path: string, extras?: RequestExtras, method = 'GET', body?: unknown): TransportRequest {
  return {
    method,
    protocol: 'http:',
    hostname: '127.0.0.1',
    port,
    path,
    headers: { 'x-test': 'yes' },
    body,
    ...(extras ? { [REQUEST_EXTRAS]: extras } : {}),
  };
}

async function listen(server: Server | NetServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** An HTTP server answering each request with `respond`, counting the connections it accepted. */
async function httpServer(respond: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void) {
  const server = createHttpServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => respond(req, res, Buffer.concat(parts)));
  });
  const state = { connections: 0 };
  server.on('connection', () => {
    state.connections += 1;
  });
  closers.push(() => server.closeAllConnections());
  return { port: await listen(server), state };
}

/** A raw TCP server that answers each request with the next scripted reply (byte pieces, with pauses between). */
async function scriptedServer(replies: ((socket: Socket) => Promise<void>)[]) {
  const sockets: Socket[] = [];
  const server = createNetServer((socket) => {
    sockets.push(socket);
    let pending = '';
    socket.on('data', async (data) => {
      pending += data.toString('latin1');
      while (pending.includes('\r\n\r\n')) {
        pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
        const reply = replies.shift();
        if (reply) await reply(socket);
      }
    });
    socket.on('error', () => undefined);
  });
  closers.push(() => {
    for (const socket of sockets) socket.destroy();
  });
  return { port: await listen(server), sockets };
}

async function writeInPieces(socket: Socket, text: string | Buffer, piece: number): Promise<void> {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  for (let at = 0; at < bytes.length; at += piece) {
    socket.write(bytes.subarray(at, at + piece));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('DirectHttpHandler (homebound transport for the EBS and S3 clients)', () => {
  it("reads a 2xx body straight into the caller's buffer and keeps one socket for calls in turn", async () => {
    const payload = randomBytes(BLOCK_SIZE);
    const { port, state } = await httpServer((req, res) => {
      res.writeHead(200, { 'content-length': payload.length, 'x-echo': String(req.headers['x-test']) });
      res.end(payload);
    });
    const transport = handler();
    for (let call = 0; call < 3; call++) {
      const into = Buffer.alloc(BLOCK_SIZE);
      const { response } = await transport.handle(request(port, `/blocks/${call}`, { bodyInto: into }));
      expect(response.statusCode).toBe(200);
      expect(response.headers['x-echo']).toBe('yes');
      // The very buffer the caller gave, holding the body: no copy between socket and caller.
      expect(wholeBody(response.body)).toBe(into);
      expect(into.equals(payload)).toBe(true);
    }
    expect(state.connections).toBe(1);

    // A buffer of another length is left alone; so is a function's choice for a non-2xx body.
    const small = Buffer.alloc(16);
    const { response } = await transport.handle(request(port, '/x', { bodyInto: small }));
    expect(wholeBody(response.body)?.equals(payload)).toBe(true);
    expect(small.equals(Buffer.alloc(16))).toBe(true);
  });

  it('gives a body of the declared length to a bodyInto function, and an error body to the SDK instead', async () => {
    const { port } = await httpServer((req, res) => {
      if (req.url === '/missing') {
        res.writeHead(404, { 'content-type': 'application/xml', 'content-length': 24 });
        res.end('<Error>NoSuchKey</Error>');
        return;
      }
      res.writeHead(200, { 'content-length': 5 });
      res.end('hello');
    });
    const asked: number[] = [];
    const into = Buffer.alloc(5);
    const bodyInto = (length: number) => {
      asked.push(length);
      return into;
    };
    const transport = handler();
    const found = await transport.handle(request(port, '/found', { bodyInto }));
    expect(wholeBody(found.response.body)).toBe(into);
    expect(into.toString()).toBe('hello');
    const missing = await transport.handle(request(port, '/missing', { bodyInto }));
    expect(missing.response.statusCode).toBe(404);
    expect(wholeBody(missing.response.body)?.toString()).toBe('<Error>NoSuchKey</Error>');
    expect(asked).toEqual([5]);
  });

  it('sends request bodies (buffer, string, stream) with their length', async () => {
    const { port } = await httpServer((req, res, body) => {
      res.writeHead(200, { 'content-length': 64 + body.length });
      res.end(`${req.method} ${req.headers['content-length']} ${req.headers.host}`.padEnd(64) + body.toString());
    });
    const transport = handler();
    const cases: [unknown, string][] = [
      [Buffer.from('buffer body'), 'buffer body'],
      ['string body ✓', 'string body ✓'],
      [new Uint8Array([65, 66, 67]), 'ABC'],
      [Readable.from([Buffer.from('read '), Buffer.from('first')]), 'read first'],
    ];
    for (const [body, text] of cases) {
      const { response } = await transport.handle(request(port, '/put', undefined, 'PUT', body));
      const echoed = wholeBody(response.body)?.toString() ?? '';
      expect(echoed.slice(0, 64).trim()).toBe(`PUT ${Buffer.byteLength(text)} 127.0.0.1:${port}`);
      expect(echoed.slice(64)).toBe(text);
    }
  });

  it('parses heads and bodies split over many reads, chunked and close-delimited bodies, 100 Continue, HEAD and 204', async () => {
    const block = randomBytes(100_000);
    const { port } = await scriptedServer([
      // Head and body in 7-byte pieces, an interim 100 Continue first.
      (socket) =>
        writeInPieces(
          socket,
          Buffer.concat([
            Buffer.from(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: ${block.length}\r\n\r\n`),
            block,
          ]),
          7_001,
        ),
      (socket) =>
        writeInPieces(
          socket,
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n',
          3,
        ),
      async (socket) => {
        socket.write('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n');
      },
      async (socket) => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n');
      }, // answer to a HEAD
      async (socket) => {
        socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end');
        socket.end();
      },
    ]);
    const transport = handler({ maxSockets: 1 });
    const into = Buffer.alloc(block.length);
    const first = await transport.handle(request(port, '/a', { bodyInto: into }));
    expect(first.response.statusCode).toBe(200);
    expect(wholeBody(first.response.body)).toBe(into);
    expect(into.equals(block)).toBe(true);
    const chunked = await transport.handle(request(port, '/b'));
    expect(wholeBody(chunked.response.body)?.toString()).toBe('hello, world');
    const empty = await transport.handle(request(port, '/c'));
    expect([empty.response.statusCode, wholeBody(empty.response.body)?.length]).toEqual([204, 0]);
    const head = await transport.handle(request(port, '/d', undefined, 'HEAD'));
    expect([head.response.headers['content-length'], wholeBody(head.response.body)?.length]).toEqual(['1234', 0]);
    const closing = await transport.handle(request(port, '/e'));
    expect(wholeBody(closing.response.body)?.toString()).toBe('until the end');
  });

  it('retries an idempotent call once on a fresh socket when the server dropped the kept-alive one, never a POST', async () => {
    const reply = (text: string) => async (socket: Socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
    };
    const drop = async (socket: Socket) => {
      socket.destroy();
    };
    const { port, sockets } = await scriptedServer([reply('one'), drop, reply('two'), reply('three'), drop]);
    const transport = handler({ maxSockets: 1 });
    expect(wholeBody((await transport.handle(request(port, '/1'))).response.body)?.toString()).toBe('one');
    // The server closes the socket as the second GET arrives: the call goes again on a new socket.
    expect(wholeBody((await transport.handle(request(port, '/2'))).response.body)?.toString()).toBe('two');
    expect(sockets).toHaveLength(2);
    expect(wholeBody((await transport.handle(request(port, '/3'))).response.body)?.toString()).toBe('three');
    // A POST is not repeated: the server may have acted on it.
    await expect(transport.handle(request(port, '/4', undefined, 'POST', 'x'))).rejects.toMatchObject({
      code: 'ECONNRESET',
    });
    expect(sockets).toHaveLength(2);
  });

  it('fails a silent server with a TimeoutError, an aborted call with an AbortError, and frees the socket for the next', async () => {
    const { port } = await httpServer((req, res) => {
      if (req.url === '/silent') return; // never answers
      res.writeHead(200, { 'content-length': 2 });
      res.end('ok');
    });
    const transport = handler({ maxSockets: 1, requestTimeoutMs: 300 });
    await expect(transport.handle(request(port, '/silent'))).rejects.toMatchObject({ name: 'TimeoutError' });
    const controller = new AbortController();
    const aborted = transport.handle(request(port, '/silent', { signal: controller.signal }));
    setTimeout(() => controller.abort(), 50);
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    // The SDK's own abortSignal option works the same way, and a signal already aborted sends nothing.
    await expect(transport.handle(request(port, '/ok'), { abortSignal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(wholeBody((await transport.handle(request(port, '/ok'))).response.body)?.toString()).toBe('ok');
  });

  it('refuses a malformed response and a body longer than its Content-Length', async () => {
    const { port } = await scriptedServer([
      async (socket) => {
        socket.write('SPDY/9 200 OK\r\n\r\n');
      },
      async (socket) => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\ntoo long');
      },
    ]);
    const transport = handler({ maxSockets: 1 });
    await expect(transport.handle(request(port, '/1'))).rejects.toThrow(/not an HTTP\/1\.1 response/);
    await expect(transport.handle(request(port, '/2'))).rejects.toThrow(/longer than its Content-Length/);
  });

  it('never opens more than maxSockets to an origin; calls beyond wait their turn', async () => {
    const { port, state } = await httpServer((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-length': 1 });
        res.end('k');
      }, 20);
    });
    const transport = handler({ maxSockets: 2 });
    const results = await Promise.all(Array.from({ length: 9 }, (_, i) => transport.handle(request(port, `/${i}`))));
    expect(results.map((result) => wholeBody(result.response.body)?.toString())).toEqual(Array(9).fill('k'));
    expect(state.connections).toBe(2);
  });

  it('speaks HTTPS through tls.connect with the same direct reads, checking the certificate', async () => {
    const cert = makeTestCertificate('leaf', 'localhost', ['subjectAltName=DNS:localhost,IP:127.0.0.1']);
    const key = readFileSync(join(dirname(cert), 'key.pem'));
    const payload = randomBytes(300_000);
    const server = createTlsServer({ key, cert: readFileSync(cert) }, (socket) => {
      socket.once('data', () => {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`);
        socket.write(payload);
      });
      socket.on('error', () => undefined);
    });
    const port = await listen(server);
    const https = (transport: DirectHttpHandler, into?: Buffer) =>
      transport.handle({ ...request(port, '/tls', into && { bodyInto: into }), protocol: 'https:' });

    const into = Buffer.alloc(payload.length);
    const { response } = await https(handler({ ca: readFileSync(cert, 'utf8') }), into);
    expect(wholeBody(response.body)).toBe(into);
    expect(into.equals(payload)).toBe(true);
    // Without the CA the certificate is refused.
    await expect(https(handler())).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  });

  it('carries an EBS block from the local cloud into the slot the engine gave (EbsBlockSource over the SDK)', async () => {
    const cloud = await startTestCloud();
    closers.push(() => cloud.stop());
    const volume = join(cloud.cloud.volumesDir, 'vol-direct.img');
    await createVolume(volume, 4 * BLOCK_SIZE);
    const written = randomBytes(BLOCK_SIZE);
    await writeVolumeBlocks(volume, 2, written);
    const snapshot = await snapshotVolume(cloud.cloud.store, volume);
    const page = await cloud.source.listSnapshotBlocks(snapshot.snapshotId);
    const ref = page.blocks.find((block) => block.index === 2);
    const slot = Buffer.alloc(BLOCK_SIZE);

    const block = await cloud.source.getSnapshotBlock(snapshot.snapshotId, 2, ref?.token as string, slot);
    expect(block.data).toBe(slot);
    expect(slot.equals(written)).toBe(true);
    expect(block.checksum).toBe(createHash('sha256').update(written).digest('base64'));
    // An error status still reaches the SDK's error parsing, and homebound's mapping after it.
    await expect(cloud.source.getSnapshotBlock('snap-00000000000000000', 0, 'no-token', slot)).rejects.toThrow(
      SnapshotNotFoundError,
    );
  });
});
