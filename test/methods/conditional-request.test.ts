import { describe, expect, it } from 'vitest';
import { InvalidFailbackRequestError } from '../../core/failback/errors.js';
import { parseFailbackRequest } from '../../core/failback/request.js';

const base = { method: 'conditional-automated', hosts: ['i-0123456789abcdef0'], target: { platform: 'manual' } };

function fieldError(request: unknown): string {
  try {
    parseFailbackRequest(request);
  } catch (error) {
    if (error instanceof InvalidFailbackRequestError) return error.message;
    throw error;
  }
  throw new Error('expected the request to be refused');
}

describe('the conditional-automated request variant', () => {
  it('fills the agent liveness defaults', () => {
    expect(parseFailbackRequest(base)).toMatchObject({
      method: 'conditional-automated',
      target: { platform: 'manual' },
      agent: {
        heartbeatSeconds: 15,
        unavailableAfterSeconds: 300,
        prepareTimeoutSeconds: 1800,
        operationTimeoutSeconds: 900,
      },
    });
  });

  it('names the wrong field', () => {
    expect(fieldError({ ...base, target: { platform: 'hyperv' } })).toContain('field target.platform');
    // Placement and store are not a request's to choose (the agent's config, the deployment): refused, naming where.
    const placement = { datacenter: 'DC0', cluster: 'C0', datastore: 'ds', network: 'VM Network' };
    expect(fieldError({ ...base, target: { platform: 'vsphere', placement } })).toMatch(
      /field target\.placement: is set in the agent's config/,
    );
    expect(
      fieldError({ ...base, target: { platform: 'manual', staging: { bucket: 'b1x', endpoint: 'https://s3.x' } } }),
    ).toMatch(/field target\.staging: is set by the deployment/);
    expect(fieldError({ ...base, agent: { heartbeatSeconds: 30, unavailableAfterSeconds: 20 } })).toContain(
      'field agent.unavailableAfterSeconds',
    );
    expect(fieldError({ ...base, agent: { heartbeatSecs: 3 } })).toContain('agent');
    // The automated variant's target is not this one's.
    expect(fieldError({ ...base, target: { platform: 'aws', region: 'eu-west-1' } })).toContain('field target');
  });

  it('accepts both platforms with nothing else in the target', () => {
    for (const platform of ['vsphere', 'manual'] as const) {
      // The one default the target has: a seed VM found running is refused, not powered off.
      expect(parseFailbackRequest({ ...base, target: { platform } }).target).toEqual({ platform, powerOffSeed: false });
    }
  });
});
