import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchInstanceArn, InstanceIdentityUnavailableError } from '../../core/gateway/instance-identity.js';

const TOKEN = 'imds-session-token';

/** An IMDSv2 stand-in on loopback: a PUT for a token, then GETs that must carry it (as the real service demands). */
async function startImds(
  document: unknown,
  partition = 'aws',
): Promise<{ endpoint: string; server: Server; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    seen.push(`${request.method} ${request.url}`);
    if (request.method === 'PUT' && request.url === '/latest/api/token') {
      if (!request.headers['x-aws-ec2-metadata-token-ttl-seconds']) return void response.writeHead(400).end();
      return void response.end(TOKEN);
    }
    if (request.headers['x-aws-ec2-metadata-token'] !== TOKEN) return void response.writeHead(401).end();
    if (request.url === '/latest/dynamic/instance-identity/document')
      return void response.end(JSON.stringify(document));
    if (request.url === '/latest/meta-data/services/partition') return void response.end(partition);
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, server, seen };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

describe('the gateway learns its own instance ARN from IMDSv2', () => {
  it('builds the ARN IAM sees as ec2:SourceInstanceARN from a token-authorised identity document', async () => {
    const imds = await startImds(
      { accountId: '111122223333', region: 'cn-north-1', instanceId: 'i-0123456789abcdef0' },
      'aws-cn',
    );
    servers.push(imds.server);

    await expect(fetchInstanceArn({ endpoint: imds.endpoint })).resolves.toBe(
      'arn:aws-cn:ec2:cn-north-1:111122223333:instance/i-0123456789abcdef0',
    );
    expect(imds.seen[0]).toBe('PUT /latest/api/token');
  });

  it('fails with a named error when the document lacks the account', async () => {
    const imds = await startImds({ region: 'eu-west-1', instanceId: 'i-0123456789abcdef0' });
    servers.push(imds.server);

    await expect(fetchInstanceArn({ endpoint: imds.endpoint })).rejects.toThrow(/lacks accountId/);
  });

  it('fails with a named error that names --instance-arn when no metadata service answers', async () => {
    const imds = await startImds({});
    servers.push(imds.server);
    const { endpoint } = imds;
    await new Promise((resolve) => imds.server.close(resolve));
    servers.splice(0);

    const error = await fetchInstanceArn({ endpoint, timeoutMs: 500 }).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(InstanceIdentityUnavailableError);
    expect((error as Error).message).toMatch(/--instance-arn/);
  });
});
