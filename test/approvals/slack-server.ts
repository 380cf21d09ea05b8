import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One call to the local stand-in for Slack's Web API. */
export interface SlackCall {
  readonly method: string;
  readonly authorization: string | undefined;
  readonly body: Record<string, unknown>;
}

/**
 * A local stand-in for Slack's Web API on 127.0.0.1: records every call and answers `ok: true` (with a channel and
 * ts for chat.postMessage), or `ok: false` with `failWith`.
 */
export class LocalSlackApi {
  readonly calls: SlackCall[] = [];
  failWith: string | undefined;
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<LocalSlackApi> {
    let api: LocalSlackApi | undefined;
    const server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => {
        raw += chunk;
      });
      req.on('end', () => {
        const method = (req.url ?? '').replace(/^\/api\//, '');
        api?.calls.push({ method, authorization: req.headers.authorization, body: JSON.parse(raw) });
        res.setHeader('Content-Type', 'application/json');
        if (api?.failWith) return res.end(JSON.stringify({ ok: false, error: api.failWith }));
        res.end(JSON.stringify({ ok: true, channel: 'C0APPROVALS', ts: `1700000000.00${api?.calls.length ?? 0}` }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    api = new LocalSlackApi(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`);
    return api;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
