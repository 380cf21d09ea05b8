import type { ComputePort } from '../../core/compute/port.js';
import { deriveRunKey } from '../../core/engine/run-key.js';
import { FailbackMetrics } from '../../core/failback/metrics.js';
import type { ApprovalPort, FailbackDeps } from '../../core/failback/run-state.js';
import { LOCAL_TAKEOVER_TAG } from '../../core/failback/takeover-tag.js';
import { MemoryStaging } from './memory-staging.js';

/**
 * FailbackDeps for calling a step directly: the given compute, a fresh in-memory staging per call, no EBS, no
 * approvals, metrics off, a run key derived from a fixed test secret. `overrides` replace any of them.
 */
export function stepDeps(compute: ComputePort, overrides: Partial<FailbackDeps> = {}): FailbackDeps {
  return {
    compute,
    blockSource: undefined as never,
    staging: () => new MemoryStaging(),
    stagingBucket: 'staging',
    takeoverTag: LOCAL_TAKEOVER_TAG,
    approvals: {} as ApprovalPort,
    gatewayRunKey: async (runId) => deriveRunKey('test gateway-ack secret', runId),
    metrics: FailbackMetrics.disabled(),
    now: () => new Date(),
    ...overrides,
  };
}
