import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpCheck } from '../../core/health/checks.js';
import { probeHttp } from '../../core/health/http.js';
import { probeTcp } from '../../core/health/tcp.js';
import { makeTestCertificate } from '../support/test-ca.js';

const servers: (Server | HttpServer)[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    if ('closeAllConnections' in server) server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Listens on a free loopback port; closed after the test. */
async function listen<S extends Server | HttpServer>(server: S): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** A port nothing listens on: one a server had a moment ago. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  await new Promise((resolve) => server.close(resolve));
  return address.port;
}

/** An HTTP(S) handler answering `status` after `delayMs`, counting requests by path. */
function answering(status: number, delayMs = 0) {
  const paths: string[] = [];
  const handler = (request: { url?: string }, response: { writeHead(s: number): void; end(b: string): void }) => {
    paths.push(request.url ?? '');
    setTimeout(() => {
      response.writeHead(status);
      response.end('body');
    }, delayMs).unref();
  };
  return { handler, paths };
}

const http = (fields: Record<string, unknown>) => HttpCheck.parse({ type: 'http', ...fields });
const limits = { timeoutMs: 2000 };

describe('TCP health check', () => {
  it('passes while a server accepts connections on the port', async () => {
    const port = await listen(createTcpServer((socket) => socket.end()));
    await expect(probeTcp('127.0.0.1', port, limits)).resolves.toEqual({
      passed: true,
      detail: `tcp 127.0.0.1:${port}: connection accepted`,
    });
  });

  it('fails with the refusal once nothing listens', async () => {
    const port = await closedPort();
    const outcome = await probeTcp('127.0.0.1', port, limits);
    expect(outcome.passed).toBe(false);
    expect(outcome.detail).toContain('ECONNREFUSED');
  });

  it('fails at once when the caller has given up', async () => {
    const port = await listen(createTcpServer((socket) => socket.end()));
    const outcome = await probeTcp('127.0.0.1', port, { timeoutMs: 2000, signal: AbortSignal.abort() });
    expect(outcome).toEqual({ passed: false, detail: `tcp 127.0.0.1:${port}: cancelled before an answer` });
  });
});

describe('HTTP health check', () => {
  it('passes on the expected status and GETs the path', async () => {
    const server = answering(200);
    const port = await listen(createHttpServer(server.handler));
    const outcome = await probeHttp('127.0.0.1', http({ port, path: '/health?deep=1' }), limits);
    expect(outcome).toEqual({ passed: true, detail: `GET http://127.0.0.1:${port}/health?deep=1: 200` });
    expect(server.paths).toEqual(['/health?deep=1']);
  });

  it('fails on a 503, naming the status it expected', async () => {
    const port = await listen(createHttpServer(answering(503).handler));
    const outcome = await probeHttp('127.0.0.1', http({ port, path: '/health' }), limits);
    expect(outcome).toEqual({
      passed: false,
      detail: `GET http://127.0.0.1:${port}/health: 503, expected 200`,
    });
  });

  it('accepts any status of a list', async () => {
    const port = await listen(createHttpServer(answering(204).handler));
    await expect(probeHttp('127.0.0.1', http({ port, expectStatus: [200, 204] }), limits)).resolves.toMatchObject({
      passed: true,
    });
    await expect(probeHttp('127.0.0.1', http({ port, expectStatus: [200, 301] }), limits)).resolves.toMatchObject({
      passed: false,
      detail: expect.stringContaining('204, expected 200 or 301'),
    });
  });

  it('fails after its timeout when the server answers too slowly', async () => {
    const port = await listen(createHttpServer(answering(200, 5000).handler));
    const started = Date.now();
    const outcome = await probeHttp('127.0.0.1', http({ port, timeoutSeconds: 1 }), { timeoutMs: 1000 });
    const elapsed = Date.now() - started;
    expect(outcome).toEqual({ passed: false, detail: `GET http://127.0.0.1:${port}/: no answer within 1 s` });
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(3000);
  });

  it('reports a request node refuses to send as a failed check, not a thrown error', async () => {
    // The schema refuses such a hostName; a caller building the check by hand is not stopped by it.
    const check = { ...http({ port: 80 }), hostName: 'shop.example\r\nX-Injected: 1' };
    const outcome = await probeHttp('127.0.0.1', check, limits);
    expect(outcome.passed).toBe(false);
    expect(outcome.detail).toContain('ERR_INVALID_CHAR');
  });

  it('fails when nothing listens', async () => {
    const port = await closedPort();
    const outcome = await probeHttp('127.0.0.1', http({ port }), limits);
    expect(outcome.passed).toBe(false);
    expect(outcome.detail).toContain('ECONNREFUSED');
  });
});

describe('HTTPS health check', () => {
  async function selfSignedServer(status: number): Promise<number> {
    const cert = makeTestCertificate('leaf', 'failback-host.example');
    const key = join(dirname(cert), 'key.pem');
    return listen(createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }, answering(status).handler));
  }

  it('refuses a self-signed certificate by default and says how to accept it', async () => {
    const port = await selfSignedServer(200);
    const outcome = await probeHttp('127.0.0.1', http({ scheme: 'https', port }), limits);
    expect(outcome.passed).toBe(false);
    expect(outcome.detail).toContain('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(outcome.detail).toContain('set insecureTls to accept this certificate');
  });

  it('sends hostName as the Host header and the TLS server name', async () => {
    const cert = makeTestCertificate('leaf', 'shop.example');
    const seen: { host: string | undefined; servername: string | false | null }[] = [];
    const port = await listen(
      createHttpsServer(
        { cert: readFileSync(cert), key: readFileSync(join(dirname(cert), 'key.pem')) },
        (request, response) => {
          seen.push({ host: request.headers.host, servername: (request.socket as TLSSocket).servername });
          response.writeHead(200);
          response.end();
        },
      ),
    );
    const check = http({ scheme: 'https', port, hostName: 'shop.example', insecureTls: true });
    await expect(probeHttp('127.0.0.1', check, limits)).resolves.toMatchObject({ passed: true });
    expect(seen).toEqual([{ host: 'shop.example', servername: 'shop.example' }]);
  });

  it('accepts it with insecureTls and still checks the status', async () => {
    const ok = await selfSignedServer(200);
    await expect(
      probeHttp('127.0.0.1', http({ scheme: 'https', port: ok, insecureTls: true }), limits),
    ).resolves.toEqual({ passed: true, detail: `GET https://127.0.0.1:${ok}/: 200` });
    const failing = await selfSignedServer(503);
    await expect(
      probeHttp('127.0.0.1', http({ scheme: 'https', port: failing, insecureTls: true }), limits),
    ).resolves.toMatchObject({ passed: false, detail: expect.stringContaining('503, expected 200') });
  });
});
