import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApprovalHttpRequest, ApprovalHttpResponse } from '../../core/approvals/http.js';
import { MAX_BODY_BYTES } from '../../core/approvals/http.js';

/** Something that answers approval requests: the page handler (core/approvals/page.ts). */
export interface ApprovalHttpHandler {
  handle(request: ApprovalHttpRequest): Promise<ApprovalHttpResponse>;
}

/** A running localhost server; `url` has no trailing slash. */
export interface ServedApprovals {
  readonly url: string;
  close(): Promise<void>;
}

class BodyTooLargeError extends Error {}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Serves an approval handler on 127.0.0.1 (an ephemeral port): the drill's stand-in for the Lambda function URL. The
 * handler is the same one Lambda runs; this only turns node:http into its request and back.
 */
export async function serveApprovals(handler: ApprovalHttpHandler): Promise<ServedApprovals> {
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value]),
      );
      const response = await handler.handle({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers,
        body: req.method === 'POST' ? await readBody(req) : '',
        sourceIp: req.socket.remoteAddress,
      });
      res.writeHead(response.status, response.headers);
      res.end(req.method === 'HEAD' ? undefined : response.body);
    })().catch((error: unknown) => {
      res.statusCode = error instanceof BodyTooLargeError ? 413 : 500;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
