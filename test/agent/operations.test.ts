import { describe, expect, it } from 'vitest';
import { parseOperation } from '../../core/agent/operations.js';

const parse = (input: Record<string, unknown>) => () => parseOperation(JSON.stringify(input));

describe('the agent’s wave operations (inputs)', () => {
  it('keeps Cutover and VerificationBoot without hostIds (every host), and takes a wave’s hostIds', () => {
    expect(parseOperation(JSON.stringify({ operation: 'Cutover', runId: 'run-1' }))).toEqual({
      operation: 'Cutover',
      runId: 'run-1',
    });
    expect(
      parseOperation(JSON.stringify({ operation: 'VerificationBoot', runId: 'run-1', hostIds: ['i-0a', 'i-0b'] })),
    ).toMatchObject({ hostIds: ['i-0a', 'i-0b'] });
  });

  it('names the field of a wrong wave input', () => {
    expect(parse({ operation: 'Cutover', runId: 'run-1', hostIds: [] })).toThrow(/Cutover input is invalid: hostIds/);
    const health = { operation: 'CheckWaveHealth', runId: 'run-1', hostIds: ['i-0a'], timeoutSeconds: 60 };
    expect(parse(health)).toThrow(/CheckWaveHealth input is invalid: since/);
    expect(
      parse({
        ...health,
        since: '2026-12-03T11:00:00Z',
        hosts: [{ hostId: 'i-0a', healthChecks: [{ type: 'tcp', port: 0 }] }],
      }),
    ).toThrow(/hosts\.0\.healthChecks\.0\.port/);
  });

  it('fills in a host’s check defaults and ignores the request’s other host fields', () => {
    const parsed = parseOperation(
      JSON.stringify({
        operation: 'CheckWaveHealth',
        runId: 'run-1',
        hostIds: ['i-0a'],
        hosts: [{ hostId: 'i-0a', wave: 1, name: 'db', healthChecks: [{ type: 'http', path: '/health' }] }],
        since: '2026-12-03T11:00:00Z',
        timeoutSeconds: 60,
      }),
    );
    expect(parsed).toMatchObject({
      hosts: [{ hostId: 'i-0a', healthChecks: [{ type: 'http', scheme: 'http', path: '/health', expectStatus: 200 }] }],
    });
  });
});
