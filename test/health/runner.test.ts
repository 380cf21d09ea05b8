import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseHealthChecks } from '../../core/health/checks.js';
import { HealthCheckFailedError } from '../../core/health/errors.js';
import { NoRunCommand } from '../../core/health/run-command.js';
import { HealthCheckRunner, MAX_DETAIL_CHARS } from '../../core/health/runner.js';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  await new Promise((resolve) => server.close(resolve));
  return address.port;
}

const runner = new HealthCheckRunner({ runCommand: new NoRunCommand('in this test') });
const running = async (hostIds: readonly string[]) => Object.fromEntries(hostIds.map((id) => [id, 'running']));

describe('health check runner', () => {
  it('cuts a long detail so a wave of results fits in a state payload', async () => {
    const port = await closedPort();
    const [result] = await runner.checkHosts(
      [
        {
          hostId: 'i-1',
          address: '127.0.0.1',
          checks: parseHealthChecks([{ type: 'http', port, path: `/${'a'.repeat(1000)}` }]),
        },
      ],
      { hostStates: running, deadline: Date.now() + 5000 },
    );
    const detail = result?.checks[1]?.detail ?? '';
    expect(detail).toHaveLength(MAX_DETAIL_CHARS);
    expect(detail.endsWith('…')).toBe(true);
  });

  it('runs no probe once the invocation has no time left', async () => {
    const port = await closedPort();
    const [result] = await runner.checkHosts(
      [{ hostId: 'i-1', address: '127.0.0.1', checks: parseHealthChecks([{ type: 'tcp', port }]) }],
      { hostStates: running, deadline: Date.now() - 1 },
    );
    expect(result?.checks[1]).toMatchObject({ passed: false, detail: 'not run: no time left in this invocation' });
  });

  it('reports a host the state lookup does not list as unknown and unhealthy', async () => {
    const [result] = await runner.checkHosts([{ hostId: 'i-gone', checks: [] }], {
      hostStates: async () => ({}),
      deadline: Date.now() + 1000,
    });
    expect(result).toMatchObject({
      healthy: false,
      state: 'unknown',
      checks: [{ detail: 'i-gone is unknown, not running' }],
    });
  });
});

describe('HealthCheckFailedError', () => {
  it('names every unhealthy host but spells out only the first 20 checks', () => {
    const failed = Array.from({ length: 25 }, (_, index) => ({
      hostId: `i-${index % 5}`,
      name: `tcp:${8000 + index}`,
      detail: 'connect ECONNREFUSED',
    }));
    const error = new HealthCheckFailedError(failed, '2026-12-03T10:00:00.000Z');
    expect(error.message).toMatch(
      /^hosts i-0, i-1, i-2, i-3, i-4 still unhealthy at the deadline 2026-12-03T10:00:00\.000Z: /,
    );
    expect(error.message).toContain('i-4 tcp:8019: connect ECONNREFUSED; and 5 more failing checks');
    expect(error.message).not.toContain('tcp:8020');
    expect(error.failed).toHaveLength(25);
  });
});
