import { describe, expect, it } from 'vitest';
import { HealthCheck, healthCheckName, parseHealthChecks } from '../../core/health/checks.js';
import { InvalidHealthCheckError } from '../../core/health/errors.js';

describe('health check schema', () => {
  it('fills in the defaults of each check type', () => {
    const [tcp, http, ssm, state] = parseHealthChecks([
      { type: 'tcp', port: 5432 },
      { type: 'http', scheme: 'https', path: '/health' },
      { type: 'ssm', parameters: { commands: ['systemctl is-active nginx'] } },
      { type: 'state' },
    ]);
    expect(tcp).toEqual({ type: 'tcp', port: 5432, timeoutSeconds: 5 });
    expect(http).toEqual({
      type: 'http',
      scheme: 'https',
      path: '/health',
      expectStatus: 200,
      timeoutSeconds: 10,
      insecureTls: false,
    });
    expect(ssm).toEqual({
      type: 'ssm',
      document: 'AWS-RunShellScript',
      parameters: { commands: ['systemctl is-active nginx'] },
      timeoutSeconds: 120,
    });
    expect(state).toEqual({ type: 'state' });
  });

  it('names a check by what it checks unless it has a name', () => {
    const checks = parseHealthChecks([
      { type: 'tcp', port: 5432 },
      { type: 'http', scheme: 'https', path: '/health' },
      { type: 'http', port: 8080, path: '/' },
      { type: 'ssm' },
      { type: 'tcp', port: 22, name: 'ssh' },
    ]);
    expect(checks.map(healthCheckName)).toEqual([
      'tcp:5432',
      'https:443/health',
      'http:8080/',
      'ssm:AWS-RunShellScript',
      'ssh',
    ]);
  });

  it('takes one expected status or a list', () => {
    expect(HealthCheck.parse({ type: 'http', expectStatus: [200, 204] })).toMatchObject({ expectStatus: [200, 204] });
    expect(() => parseHealthChecks([{ type: 'http', expectStatus: [] }])).toThrow(/healthChecks\.0\.expectStatus/);
  });

  it.each([
    [[{ type: 'tcp', port: 70_000 }], 'hosts.3.healthChecks.0.port'],
    [[{ type: 'tcp' }], 'hosts.3.healthChecks.0.port'],
    [[{ type: 'ping' }], 'hosts.3.healthChecks.0.type'],
    [[{ type: 'http', path: 'health' }], 'hosts.3.healthChecks.0.path'],
    [[{ type: 'http', scheme: 'ftp' }], 'hosts.3.healthChecks.0.scheme'],
    [[{ type: 'http', hostName: 'shop.example.com\r\nX-Evil: 1' }], 'hosts.3.healthChecks.0.hostName'],
    [[{ type: 'tcp', port: 80, timeoutSeconds: 301 }], 'hosts.3.healthChecks.0.timeoutSeconds'],
    [[{ type: 'ssm', timeoutSeconds: 601 }], 'hosts.3.healthChecks.0.timeoutSeconds'],
    [[{ type: 'tcp', port: 80, insecureTls: true }], 'hosts.3.healthChecks.0'],
    [
      [
        { type: 'tcp', port: 80 },
        { type: 'tcp', port: 80 },
      ],
      'hosts.3.healthChecks.1.name',
    ],
  ])('rejects %j naming the field %s', (checks, field) => {
    const error = (() => {
      try {
        parseHealthChecks(checks, 'hosts.3.healthChecks');
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(InvalidHealthCheckError);
    expect((error as Error).message.startsWith(`${field}`)).toBe(true);
  });
});
