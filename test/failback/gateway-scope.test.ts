import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localInstanceArn } from '../../core/compute/local-state.js';
import type { ComputePort, HostFilter } from '../../core/compute/port.js';
import { ACK_KEY, passPrefix } from '../../core/engine/layout.js';
import { ACK_FORMAT, type PassAck } from '../../core/engine/manifest.js';
import { deriveRunKey, signRecord } from '../../core/engine/run-key.js';
import { GatewayUnavailableError } from '../../core/failback/errors.js';
import { runLayout } from '../../core/failback/run-state.js';
import { type CheckAppliedInput, checkApplied } from '../../core/failback/steps/check-applied.js';
import { verifyFailback } from '../../core/failback/steps/cutover.js';
import { APPLY_ERROR_FORMAT, type ApplyErrorRecord, applyErrorKey } from '../../core/gateway/apply-error.js';
import { type GatewayHeartbeat, HEARTBEAT_FORMAT, HEARTBEAT_KEY } from '../../core/gateway/heartbeat.js';
import { GATEWAY_VOLUMES_DIR } from '../../core/gateway/scope.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { stepDeps } from '../support/step-deps.js';

/**
 * Issue 12, Security 5: a gateway's records count only below the instance ARN of the gateway the run launched, where
 * IAM lets no other instance write. Here a second "gateway" writes records that even carry this run's valid MAC (the
 * strongest forgery: as if the key had leaked) into the run's old shared paths and below its own ARN, in one real
 * bucket on the local cloud; CheckApplied must neither complete the pass, nor roll back, nor stay alive on them.
 */

const RUN = 'run-scope';
const SECRET = 'stack gateway-ack secret';
const runKey = deriveRunKey(SECRET, RUN);
const OWN = 'i-0aaaaaaaaaaaaaaaa';
const OTHER = 'i-0bbbbbbbbbbbbbbbb';
const FAILBACK = 'i-0fffffffffffffff0';
const PASS_STARTED = Date.parse('2026-12-03T06:00:00.000Z');
const LIMIT_SECONDS = 60;

/** Where records of pass 2 of vol-a could be written: the run's own gateway's scope, and where it must be ignored. */
const ownScope = runLayout.gatewayScope(RUN, localInstanceArn(OWN));
const elsewhere = {
  'the run’s old shared prefix (runs/<run>/volumes/, runs/<run>/gateway/)': {
    volumes: runLayout.volumes(RUN),
    heartbeat: `${runLayout.root(RUN)}gateway/`,
  },
  'another gateway’s ARN under this run': {
    volumes: runLayout.gatewayScope(RUN, localInstanceArn(OTHER)) + GATEWAY_VOLUMES_DIR,
    heartbeat: runLayout.gatewayScope(RUN, localInstanceArn(OTHER)),
  },
};

let cloud: TestCloud;
beforeAll(async () => {
  cloud = await startTestCloud();
});
afterAll(async () => {
  await cloud?.stop();
});

/** A fresh run id per test would hide leaks between tests; instead each test empties the run's prefix first. */
async function fixture() {
  await cloud.stagingAt(STAGING_BUCKET, runLayout.root(RUN)).deletePrefix('');
  let now = PASS_STARTED;
  const gateway = { hostId: OWN, role: 'gateway', state: 'running', tags: {}, volumes: [] };
  // The failback host VerifyFailback checks: running, the target volume at the takeover volume's device.
  const failback = {
    hostId: FAILBACK,
    role: 'failback',
    state: 'running',
    tags: {},
    volumes: [{ volumeId: 'vol-target', device: '/dev/xvda' }],
  };
  const compute = {
    describeHosts: async (filter?: HostFilter) => (filter?.hostIds?.includes(FAILBACK) ? [failback] : [gateway]),
    instanceArn: localInstanceArn,
  } as unknown as ComputePort;
  const deps = stepDeps(compute, {
    staging: (prefix) => cloud.stagingAt(STAGING_BUCKET, prefix),
    gatewayRunKey: async (runId) => deriveRunKey(SECRET, runId),
    now: () => new Date(now),
  });
  const input: CheckAppliedInput = {
    runId: RUN,
    gatewayHostId: OWN,
    applyTimeoutSeconds: 3600,
    gateway: { heartbeatSeconds: 5, unavailableAfterSeconds: LIMIT_SECONDS },
    pass: {
      number: 2,
      kind: 'incremental',
      final: false,
      startedAt: new Date(PASS_STARTED).toISOString(),
      snapshots: [{ volumeKey: 'vol-a', hostId: 'i-t', volumeId: 'vol-a', sizeBytes: 1 << 20, snapshotId: 'snap-2' }],
    },
  };
  const put = (prefix: string, key: string, record: object) =>
    cloud.stagingAt(STAGING_BUCKET, prefix).put(key, Buffer.from(JSON.stringify(signRecord(runKey, record))));
  return {
    deps,
    input,
    setNow: (ms: number) => {
      now = ms;
    },
    putAck: (volumesPrefix: string) => put(volumesPrefix, passPrefix('vol-a', 2) + ACK_KEY, ackOfPass2()),
    putApplyError: (volumesPrefix: string) => put(volumesPrefix, applyErrorKey('vol-a', 2), applyErrorOfPass2()),
    beat: (prefix: string, at: number) => put(prefix, HEARTBEAT_KEY, heartbeatAt(at)),
  };
}

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

function applyErrorOfPass2(): ApplyErrorRecord {
  return {
    format: APPLY_ERROR_FORMAT,
    volumeKey: 'vol-a',
    passNumber: 2,
    error: 'CorruptSegmentError',
    message: 'forged refusal',
    at: new Date(PASS_STARTED + 1000).toISOString(),
  };
}

function heartbeatAt(at: number): GatewayHeartbeat {
  const iso = new Date(at).toISOString();
  return { format: HEARTBEAT_FORMAT, runId: RUN, sequence: 1, at: iso, processStartedAt: iso };
}

describe('CheckApplied reads only what the run’s own gateway instance could write (issue 12, Security 5)', () => {
  it.each(Object.entries(elsewhere))(
    'does not complete the pass on a valid-looking ack in %s',
    async (_where, paths) => {
      const { deps, input, putAck, beat } = await fixture();
      await beat(ownScope, PASS_STARTED);
      await putAck(paths.volumes);

      await expect(checkApplied(input, deps)).resolves.toEqual({ applied: false, volumesApplied: 0 });

      // The same ack where the run's gateway writes it counts: the forgery above failed only for where it was.
      await putAck(ownScope + GATEWAY_VOLUMES_DIR);
      await expect(checkApplied(input, deps)).resolves.toEqual({ applied: true, volumesApplied: 1 });
    },
  );

  it.each(Object.entries(elsewhere))('does not roll back on an apply error in %s', async (_where, paths) => {
    const { deps, input, putApplyError, beat } = await fixture();
    await beat(ownScope, PASS_STARTED);
    await putApplyError(paths.volumes);

    await expect(checkApplied(input, deps)).resolves.toEqual({ applied: false, volumesApplied: 0 });
  });

  it.each(Object.entries(elsewhere))('is not kept waiting by a fresh heartbeat in %s', async (_where, paths) => {
    const { deps, input, setNow, beat } = await fixture();
    const late = PASS_STARTED + (LIMIT_SECONDS + 1) * 1000;
    await beat(paths.heartbeat, late);
    setNow(late);

    const error = await checkApplied(input, deps).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(GatewayUnavailableError);
    expect((error as Error).message).toMatch(/has written no heartbeat within 60 s/);
  });

  it.each(Object.entries(elsewhere))('is not failed early by a stale heartbeat in %s', async (_where, paths) => {
    const { deps, input, setNow, beat } = await fixture();
    await beat(paths.heartbeat, PASS_STARTED - 3_600_000);
    await beat(ownScope, PASS_STARTED + 10_000);
    setNow(PASS_STARTED + 20_000);

    await expect(checkApplied(input, deps)).resolves.toEqual({ applied: false, volumesApplied: 0 });
  });
});

describe('VerifyFailback reads the final ack only where the run’s own gateway instance wrote it', () => {
  it.each(Object.entries(elsewhere))('does not verify the cutover on an ack in %s', async (_where, paths) => {
    const { deps, input, putAck } = await fixture();
    const cutOver = {
      runId: RUN,
      pass: input.pass,
      volumes: [{ hostId: 'i-t', volumeId: 'vol-a', device: '/dev/xvda', sizeBytes: 1 << 20, volumeKey: 'vol-a' }],
      target: {
        gatewayHostId: OWN,
        volumes: [{ volumeKey: 'vol-a', targetVolumeId: 'vol-target', gatewayDevice: '/dev/sdf' }],
      },
      failback: { hosts: [{ takeoverHostId: 'i-t', failbackHostId: FAILBACK }], hostIds: [FAILBACK] },
    };
    await putAck(paths.volumes);

    await expect(verifyFailback(cutOver, deps)).rejects.toThrow(/ack\.json/);

    await putAck(ownScope + GATEWAY_VOLUMES_DIR);
    await expect(verifyFailback(cutOver, deps)).resolves.toMatchObject({ verified: true });
  });
});
