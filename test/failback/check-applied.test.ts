import { describe, expect, it } from 'vitest';
import type { ComputePort } from '../../core/compute/port.js';
import { GatewayUnavailableError } from '../../core/failback/errors.js';
import { FailbackMetrics } from '../../core/failback/metrics.js';
import { type ApprovalPort, type FailbackDeps, runLayout } from '../../core/failback/run-state.js';
import { type CheckAppliedInput, checkApplied } from '../../core/failback/steps/check-applied.js';
import { LOCAL_TAKEOVER_TAG } from '../../core/failback/takeover-tag.js';
import { type GatewayHeartbeat, HEARTBEAT_FORMAT, HEARTBEAT_KEY } from '../../core/gateway/heartbeat.js';
import { MemoryStaging } from '../support/memory-staging.js';

const RUN = 'run-a';
const PASS_STARTED = Date.parse('2026-12-02T10:00:00.000Z');
const LIMIT_SECONDS = 60;

/** Staging per prefix, shared by every call (as one bucket is); a gateway host that EC2 reports running. */
function fixture() {
  const stagings = new Map<string, MemoryStaging>();
  const staging = (prefix: string) => {
    const found = stagings.get(prefix) ?? new MemoryStaging();
    stagings.set(prefix, found);
    return found;
  };
  let now = PASS_STARTED;
  const compute = {
    describeHosts: async () => [{ hostId: 'i-gw', role: 'gateway', state: 'running', tags: {}, volumes: [] }],
  } as unknown as ComputePort;
  const deps: FailbackDeps = {
    compute,
    blockSource: undefined as never,
    staging,
    stagingBucket: 'staging',
    takeoverTag: LOCAL_TAKEOVER_TAG,
    approvals: {} as ApprovalPort,
    metrics: FailbackMetrics.disabled(),
    now: () => new Date(now),
  };
  const input: CheckAppliedInput = {
    runId: RUN,
    gatewayHostId: 'i-gw',
    applyTimeoutSeconds: 3600,
    gateway: { heartbeatSeconds: 5, unavailableAfterSeconds: LIMIT_SECONDS },
    pass: {
      number: 2,
      kind: 'incremental',
      final: false,
      startedAt: new Date(PASS_STARTED).toISOString(),
      snapshots: [
        {
          volumeKey: 'vol-a',
          hostId: 'i-t',
          volumeId: 'vol-a',
          sizeBytes: 1 << 20,
          snapshotId: 'snap-2',
          baseSnapshotId: 'snap-1',
        },
      ],
    },
  };
  return {
    deps,
    input,
    setNow: (ms: number) => {
      now = ms;
    },
    beat: async (at: number) => {
      const beat: GatewayHeartbeat = {
        format: HEARTBEAT_FORMAT,
        runId: RUN,
        sequence: 1,
        at: new Date(at).toISOString(),
        processStartedAt: new Date(at).toISOString(),
      };
      await staging(runLayout.gateway(RUN)).put(HEARTBEAT_KEY, Buffer.from(JSON.stringify(beat)));
    },
  };
}

describe('CheckApplied: gateway liveness', () => {
  it('keeps waiting while the heartbeat is younger than the limit, and fails with GatewayUnavailableError once it is older', async () => {
    const { deps, input, setNow, beat } = fixture();
    const lastBeat = PASS_STARTED + 30_000;
    await beat(lastBeat);

    setNow(lastBeat + (LIMIT_SECONDS - 1) * 1000);
    await expect(checkApplied(input, deps)).resolves.toEqual({ applied: false, volumesApplied: 0 });
    setNow(lastBeat + (LIMIT_SECONDS + 1) * 1000);
    const error = await checkApplied(input, deps).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(GatewayUnavailableError);
    expect((error as Error).message).toContain(`last heartbeat ${new Date(lastBeat).toISOString()}`);
  });

  it('fails with GatewayUnavailableError when no heartbeat appeared within the limit of the pass starting', async () => {
    const { deps, input, setNow } = fixture();

    setNow(PASS_STARTED + (LIMIT_SECONDS - 1) * 1000);
    await expect(checkApplied(input, deps)).resolves.toMatchObject({ applied: false });
    setNow(PASS_STARTED + (LIMIT_SECONDS + 1) * 1000);
    await expect(checkApplied(input, deps)).rejects.toThrow(/has written no heartbeat within 60 s/);
  });

  it('uses the request defaults (5 minutes) when the input predates the gateway field', async () => {
    const { deps, input, setNow } = fixture();
    const { gateway: _omitted, ...older } = input;

    setNow(PASS_STARTED + 299_000);
    await expect(checkApplied(older, deps)).resolves.toMatchObject({ applied: false });
    setNow(PASS_STARTED + 301_000);
    await expect(checkApplied(older, deps)).rejects.toBeInstanceOf(GatewayUnavailableError);
  });
});
