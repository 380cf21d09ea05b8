import { describe, expect, it } from 'vitest';
import type { ComputePort } from '../../core/compute/port.js';
import { ACK_KEY } from '../../core/engine/layout.js';
import { ACK_FORMAT, type PassAck } from '../../core/engine/manifest.js';
import { deriveRunKey, signRecord } from '../../core/engine/run-key.js';
import {
  GatewayAckSecretMissingError,
  GatewayUnavailableError,
  UnexpectedHostStateError,
  UnverifiedAckError,
} from '../../core/failback/errors.js';
import { runLayout } from '../../core/failback/run-state.js';
import { type CheckAppliedInput, checkApplied } from '../../core/failback/steps/check-applied.js';
import { APPLY_ERROR_FORMAT, type ApplyErrorRecord, applyErrorKey } from '../../core/gateway/apply-error.js';
import { type GatewayHeartbeat, HEARTBEAT_FORMAT, HEARTBEAT_KEY } from '../../core/gateway/heartbeat.js';
import { GATEWAY_VOLUMES_DIR } from '../../core/gateway/scope.js';
import { MemoryStaging } from '../support/memory-staging.js';
import { stepDeps } from '../support/step-deps.js';

const RUN = 'run-a';
const STACK_SECRET = 'stack gateway-ack secret';
const runKey = (runId: string) => deriveRunKey(STACK_SECRET, runId);
const PASS_STARTED = Date.parse('2026-12-02T10:00:00.000Z');
const LIMIT_SECONDS = 60;
/** Where the run's gateway i-gw writes (core/gateway/scope.ts). */
const SCOPE = runLayout.gatewayScope(RUN, 'arn:aws:ec2:eu-west-1:111122223333:instance/i-gw');

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
    instanceArn: (hostId: string) => `arn:aws:ec2:eu-west-1:111122223333:instance/${hostId}`,
  } as unknown as ComputePort;
  const deps = stepDeps(compute, {
    staging,
    gatewayRunKey: async (runId) => runKey(runId),
    now: () => new Date(now),
  });
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
    staging,
    beat: async (at: number, key: Buffer | undefined = runKey(RUN)) => {
      const unsigned: GatewayHeartbeat = {
        format: HEARTBEAT_FORMAT,
        runId: RUN,
        sequence: 1,
        at: new Date(at).toISOString(),
        processStartedAt: new Date(at).toISOString(),
      };
      const beat = key ? signRecord(key, unsigned) : unsigned;
      await staging(SCOPE).put(HEARTBEAT_KEY, Buffer.from(JSON.stringify(beat)));
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

/** The ack a gateway writes for pass 2 of vol-a, as the applier makes it. */
function ackOfPass2(): PassAck {
  return {
    format: ACK_FORMAT,
    volumeKey: 'vol-a',
    passNumber: 2,
    snapshotId: 'snap-2',
    manifestDigest: 'a'.repeat(64),
    target: '/dev/nvme1n1',
    blocksWritten: 12,
    appliedAt: new Date(PASS_STARTED + 5000).toISOString(),
  };
}

describe('CheckApplied: run-bound acks (issue 12, Security 5)', () => {
  async function putAck(staging: (prefix: string) => MemoryStaging, ack: object) {
    await staging(SCOPE + GATEWAY_VOLUMES_DIR).put(`vol-a/pass-000002/${ACK_KEY}`, Buffer.from(JSON.stringify(ack)));
  }

  it("counts an ack MAC'd with this run's gateway key", async () => {
    const { deps, input, staging, beat } = fixture();
    await beat(PASS_STARTED);
    await putAck(staging, signRecord(runKey(RUN), ackOfPass2()));

    await expect(checkApplied(input, deps)).resolves.toEqual({ applied: true, volumesApplied: 1 });
  });

  it.each([
    ["MAC'd with another run's gateway key", () => signRecord(runKey('run-b'), ackOfPass2())],
    ['unsigned', () => ackOfPass2()],
    ['altered after signing', () => ({ ...signRecord(runKey(RUN), ackOfPass2()), blocksWritten: 13 })],
    ['with a MAC made by the stack secret itself', () => signRecord(Buffer.from(STACK_SECRET), ackOfPass2())],
  ])('refuses an ack %s with UnverifiedAckError, never counting it', async (_name, makeAck) => {
    const { deps, input, staging, beat } = fixture();
    await beat(PASS_STARTED);
    await putAck(staging, makeAck());

    const error = await checkApplied(input, deps).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(UnverifiedAckError);
    expect((error as Error).message).toContain(`vol-a/pass-000002/${ACK_KEY}`);
  });

  it("refuses another run's apply-error record and heartbeat", async () => {
    const other = fixture();
    await other.beat(PASS_STARTED);
    const record: ApplyErrorRecord = {
      format: APPLY_ERROR_FORMAT,
      volumeKey: 'vol-a',
      passNumber: 2,
      error: 'CorruptSegmentError',
      message: 'forged',
      at: new Date(PASS_STARTED).toISOString(),
    };
    await other
      .staging(SCOPE + GATEWAY_VOLUMES_DIR)
      .put(applyErrorKey('vol-a', 2), Buffer.from(JSON.stringify(signRecord(runKey('run-b'), record))));
    await expect(checkApplied(other.input, other.deps)).rejects.toBeInstanceOf(UnverifiedAckError);

    const beats = fixture();
    await beats.beat(PASS_STARTED, runKey('run-b'));
    await expect(checkApplied(beats.input, beats.deps)).rejects.toBeInstanceOf(UnverifiedAckError);
  });

  it('fails closed without the gateway-ack secret', async () => {
    const { deps, input, staging, beat } = fixture();
    await beat(PASS_STARTED);
    await putAck(staging, signRecord(runKey(RUN), ackOfPass2()));

    await expect(checkApplied(input, { ...deps, gatewayRunKey: undefined })).rejects.toBeInstanceOf(
      GatewayAckSecretMissingError,
    );
  });
});

describe('CheckApplied: a run with several sync gateways', () => {
  const GATEWAYS = [
    { hostId: 'i-gw1', volumeKeys: ['vol-a', 'vol-b'] },
    { hostId: 'i-gw2', volumeKeys: ['vol-c', 'vol-d'] },
    { hostId: 'i-gw3', volumeKeys: ['vol-e'] },
  ];
  const scopeOf = (hostId: string) =>
    runLayout.gatewayScope(RUN, `arn:aws:ec2:eu-west-1:111122223333:instance/${hostId}`);

  /** Three gateways, EC2 reporting each in `states` (running unless said), one pass over their five volumes. */
  function several(states: Record<string, string> = {}) {
    const base = fixture();
    const compute = {
      describeHosts: async ({ hostIds = [] }: { hostIds?: string[] } = {}) =>
        hostIds.map((hostId) => ({
          hostId,
          role: 'gateway',
          state: states[hostId] ?? 'running',
          tags: {},
          volumes: [],
        })),
      instanceArn: (hostId: string) => `arn:aws:ec2:eu-west-1:111122223333:instance/${hostId}`,
    } as unknown as ComputePort;
    const keys = GATEWAYS.flatMap((gateway) => gateway.volumeKeys);
    const input: CheckAppliedInput = {
      ...base.input,
      gatewayHostId: undefined,
      gateways: GATEWAYS,
      pass: {
        ...base.input.pass,
        snapshots: keys.map((volumeKey) => ({
          volumeKey,
          hostId: 'i-t',
          volumeId: volumeKey,
          sizeBytes: 1 << 20,
          snapshotId: 'snap-2',
        })),
      },
    };
    const ack = (hostId: string, volumeKey: string) =>
      base
        .staging(scopeOf(hostId) + GATEWAY_VOLUMES_DIR)
        .put(
          `${volumeKey}/pass-000002/${ACK_KEY}`,
          Buffer.from(JSON.stringify(signRecord(runKey(RUN), { ...ackOfPass2(), volumeKey }))),
        );
    const beat = (hostId: string, at: number) =>
      base.staging(scopeOf(hostId)).put(
        HEARTBEAT_KEY,
        Buffer.from(
          JSON.stringify(
            signRecord(runKey(RUN), {
              format: HEARTBEAT_FORMAT,
              runId: RUN,
              sequence: 1,
              at: new Date(at).toISOString(),
              processStartedAt: new Date(at).toISOString(),
            }),
          ),
        ),
      );
    return { ...base, deps: { ...base.deps, compute }, input, ack, beat };
  }

  it('counts the pass applied only once every gateway acknowledged each of its own volumes', async () => {
    const { deps, input, ack, beat } = several();
    for (const gateway of GATEWAYS) await beat(gateway.hostId, PASS_STARTED);
    for (const key of ['vol-a', 'vol-b', 'vol-c', 'vol-d']) await ack(key < 'vol-c' ? 'i-gw1' : 'i-gw2', key);

    await expect(checkApplied(input, deps)).resolves.toEqual({ applied: false, volumesApplied: 4 });
    await ack('i-gw3', 'vol-e');
    await expect(checkApplied(input, deps)).resolves.toEqual({ applied: true, volumesApplied: 5 });
  });

  it('never counts an ack another gateway of the same run wrote for a volume it does not hold', async () => {
    const { deps, input, ack, beat } = several();
    for (const gateway of GATEWAYS) await beat(gateway.hostId, PASS_STARTED);
    await ack('i-gw1', 'vol-e');

    await expect(checkApplied(input, deps)).resolves.toEqual({ applied: false, volumesApplied: 0 });
  });

  it('fails with GatewayUnavailableError naming the one gateway that went silent and its volumes, not the others', async () => {
    const { deps, input, setNow, ack, beat } = several();
    await beat('i-gw1', PASS_STARTED + 50_000);
    await beat('i-gw2', PASS_STARTED);
    await beat('i-gw3', PASS_STARTED + 50_000);
    await ack('i-gw1', 'vol-a');
    setNow(PASS_STARTED + (LIMIT_SECONDS + 1) * 1000);

    const error = await checkApplied(input, deps).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(GatewayUnavailableError);
    expect((error as Error).message).toMatch(/^the sync gateway i-gw2 \(volumes vol-c, vol-d\) has not reported/);
    expect((error as Error).message).not.toMatch(/i-gw1|i-gw3/);
  });

  it('fails with UnexpectedHostStateError naming the gateway EC2 reports terminated', async () => {
    const { deps, input, beat } = several({ 'i-gw3': 'terminated' });
    for (const gateway of GATEWAYS) await beat(gateway.hostId, PASS_STARTED);

    const error = await checkApplied(input, deps).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(UnexpectedHostStateError);
    expect((error as Error).message).toBe('the sync gateway i-gw3 (volumes vol-e) is terminated, not running');
  });

  it('does not mind a gateway gone once it has acknowledged all of its volumes for the pass', async () => {
    const { deps, input, setNow, ack, beat } = several({ 'i-gw3': 'terminated' });
    await beat('i-gw1', PASS_STARTED + 50_000);
    await beat('i-gw2', PASS_STARTED + 50_000);
    await ack('i-gw3', 'vol-e');
    setNow(PASS_STARTED + (LIMIT_SECONDS + 1) * 1000);

    await expect(checkApplied(input, deps)).resolves.toEqual({ applied: false, volumesApplied: 1 });
  });

  it('refuses a pass whose volume no gateway of the run holds', async () => {
    const { deps, input } = several();
    const orphan = { ...input, gateways: GATEWAYS.slice(0, 2) };

    await expect(checkApplied(orphan, deps)).rejects.toThrow(/vol-e is on no sync gateway of the run/);
  });
});
