import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FailbackDeps } from '../../core/failback/run-state.js';
import { validateRequest } from '../../core/failback/steps/validate-request.js';
import { LOCAL_TAKEOVER_TAG } from '../../core/failback/takeover-tag.js';
import { type ComputeFixture, computeFixture, MiB } from '../compute/local-compute-helpers.js';
import { stepDeps } from '../support/step-deps.js';

let fixture: ComputeFixture;
let hostId: string;

beforeEach(async () => {
  fixture = await computeFixture();
  const host = await fixture.compute.createTakeoverHost({
    name: 'app',
    volumes: [{ sizeBytes: MiB }],
    writesPerSecond: 0,
    tags: { [LOCAL_TAKEOVER_TAG.key]: LOCAL_TAKEOVER_TAG.value },
  });
  hostId = host.hostId;
});
afterEach(async () => {
  await fixture.cleanup();
});

function deps(defaultConvergenceThresholdMiB?: number): FailbackDeps {
  return stepDeps(fixture.compute, { defaultConvergenceThresholdMiB });
}

const request = (extra: Record<string, unknown> = {}) => ({
  method: 'automated',
  hosts: [hostId],
  target: { platform: 'aws', region: 'eu-west-1' },
  ...extra,
});

describe('ValidateRequest and the deployment convergence threshold', () => {
  it('gives a request that sets no threshold the deployment’s, and keeps what it does set', async () => {
    const none = await validateRequest({ runId: 'r1', request: request() }, deps(8));
    const passesOnly = await validateRequest(
      { runId: 'r1', request: request({ convergence: { maxPasses: 3 } }) },
      deps(8),
    );
    const own = await validateRequest(
      { runId: 'r1', request: request({ convergence: { thresholdMiB: 100 } }) },
      deps(8),
    );
    const noDefault = await validateRequest({ runId: 'r1', request: request() }, deps());

    expect(none.request.convergence).toEqual({ thresholdMiB: 8, maxPasses: 10 });
    expect(passesOnly.request.convergence).toEqual({ thresholdMiB: 8, maxPasses: 3 });
    expect(own.request.convergence.thresholdMiB).toBe(100);
    expect(noDefault.request.convergence.thresholdMiB).toBe(64);
  });

  it('still names a malformed convergence field rather than hiding it behind the default', async () => {
    await expect(validateRequest({ runId: 'r1', request: request({ convergence: 'fast' }) }, deps(8))).rejects.toThrow(
      /convergence/,
    );
  });
});
