import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { estimateCutover } from '../../core/estimate/cutover.js';
import { estimateFailback } from '../../core/estimate/model.js';
import { governedSendSeconds, passTime, streamSplit } from '../../core/estimate/pass-time.js';
import {
  changedBlocks,
  EstimatePlanError,
  type EstimatePlanInput,
  parseEstimatePlan,
  volumeLoads,
} from '../../core/estimate/plan.js';
import { AWS_PROFILE, LOCAL_PROFILE, throughputProfile } from '../../core/estimate/profile.js';
import { splitPass, streamSplitSettings } from '../../core/failback/stream-split.js';

const GiB_BLOCKS = 2048;

function plan(overrides: Partial<EstimatePlanInput> = {}) {
  return parseEstimatePlan({
    hosts: [{ volumes: [{ sizeGiB: 100 }] }],
    usedFraction: 0.5,
    writes: { mibPerSecond: 2 },
    convergence: { thresholdMiB: 64, maxPasses: 10 },
    ...overrides,
  });
}

describe('estimate plan', () => {
  it('names the field at fault', () => {
    expect(() => parseEstimatePlan({ hosts: [{ volumes: [{ sizeGiB: 1, sizeMiB: 1 }] }] })).toThrow(
      new EstimatePlanError('plan hosts.0.volumes.0: give one of sizeGiB and sizeMiB'),
    );
    expect(() => parseEstimatePlan({ hosts: [{ volumes: [{ sizeGiB: 1 }] }], usedFraction: 2 })).toThrow(
      /^plan usedFraction: /,
    );
    expect(() => parseEstimatePlan({ hosts: [] })).toThrow(/^plan hosts: /);
    expect(() =>
      parseEstimatePlan({ hosts: [{ volumes: [{ sizeGiB: 1 }] }], writes: { mibPerSecond: 1, writesPerSecond: 1 } }),
    ).toThrow('plan writes: give one of mibPerSecond and writesPerSecond');
  });

  it("shares a host's writes equally among its volumes unless a volume gives its own; small writes dirty whole blocks", () => {
    const loads = volumeLoads(
      parseEstimatePlan({
        hosts: [
          {
            volumes: [{ sizeGiB: 1 }, { sizeGiB: 2 }, { sizeGiB: 1, writes: { writesPerSecond: 5 } }],
            writes: { mibPerSecond: 4, writeKiB: 16 },
          },
        ],
      }),
    );
    // 4 MiB/s of 16 KiB writes = 256 writes/s, each dirtying one 512 KiB block, shared by the two volumes without writes.
    expect(loads.map((load) => load.dirtyBlocksPerSecond)).toEqual([128, 128, 5]);
    expect(loads.map((load) => load.blocks)).toEqual([GiB_BLOCKS, 2 * GiB_BLOCKS, GiB_BLOCKS]);
  });

  it('counts distinct blocks written: overwrites of the same blocks add nothing, a hot set saturates', () => {
    const [uniform] = volumeLoads(plan({ writes: { writesPerSecond: 100 } }));
    const [hot] = volumeLoads(plan({ writes: { writesPerSecond: 100, hotFraction: 0.001 } }));
    if (!uniform || !hot) throw new Error('no volume');
    expect(changedBlocks(uniform, 1)).toBeCloseTo(100, 0);
    expect(changedBlocks(uniform, 3600)).toBeLessThan(uniform.blocks);
    expect(changedBlocks(hot, 3600)).toBeCloseTo(hot.hotBlocks, 6);
  });
});

describe('pass time', () => {
  it('splits a pass as StreamPass does (stream-split.ts): invocations and each one’s share of the snapshot quota', () => {
    for (const quota of [5, 20, 100, 1000]) {
      for (const shards of [1, 2, 3, 4, 7, 40]) {
        const profile = throughputProfile('aws', { snapshotBlockQuota: quota });
        const modelled = streamSplit(shards * profile.shardBlocks, profile);
        const real = splitPass(shards, streamSplitSettings({ snapshotBlockQuota: quota }));
        expect(modelled).toEqual(
          real
            ? { invocations: real.ranges.length, ceiling: real.requestsPerSecond }
            : { invocations: 1, ceiling: quota },
        );
      }
    }
  });

  it("sends at the governor's ceiling once its ramp is over, and a small pass in its start-up burst", () => {
    expect(governedSendSeconds(30, 1000, AWS_PROFILE)).toBe(0);
    expect(governedSendSeconds(100_000, 500, AWS_PROFILE)).toBeCloseTo(100_000 / 500, -1);
    expect(governedSendSeconds(100, 10, AWS_PROFILE)).toBeCloseTo(99 / 10, 6);
  });

  it('names what limits a 1 TiB full pass on AWS: the gp3 target, engine CPU, then the snapshot quota', () => {
    const volumes = [{ hostIndex: 0, blocks: 1024 * GiB_BLOCKS }];
    // A gp3 target at its baseline 125 MiB/s writes slower still: provisioned at 1,000 MiB/s it does not.
    expect(passTime(volumes, AWS_PROFILE).limitedBy).toBe('gateway disk');
    const provisioned = { targetVolumeMiBps: 1000 };
    const cpu = passTime(volumes, throughputProfile('aws', provisioned));
    expect(cpu.limitedBy).toBe('engine CPU');
    expect(cpu.invocationsPerVolume).toBe(4);
    expect(cpu.blocksPerSecond / (4 * (1000 / AWS_PROFILE.cpuMsPerBlock))).toBeGreaterThan(0.98);
    const quota = passTime(volumes, throughputProfile('aws', { ...provisioned, cpuMsPerBlock: 1 }));
    expect(quota.limitedBy).toBe('snapshot quota');
    // Four invocations at 214 requests/s each: 90% of the 1,000/s quota less their bursts.
    expect(quota.blocksPerSecond / (4 * 214)).toBeGreaterThan(0.98);
    expect(quota.blocksPerSecond / (4 * 214)).toBeLessThanOrEqual(1);
  });

  it('shares the account quota between the volumes streaming at once (at most 8)', () => {
    const profile = throughputProfile('aws', { cpuMsPerBlock: 1 });
    const one = passTime([{ hostIndex: 0, blocks: 100 * GiB_BLOCKS }], profile);
    const sixteen = passTime(
      Array.from({ length: 16 }, (_, i) => ({ hostIndex: i, blocks: 100 * GiB_BLOCKS })),
      profile,
    );
    expect(sixteen.limitedBy).toBe('account quota');
    expect(sixteen.blocksPerSecond).toBeCloseTo(profile.accountBlockQuota, -1);
    expect(sixteen.streamSeconds).toBeGreaterThan(10 * one.streamSeconds);
  });

  it('writes a pass on the gateway after it is staged: a slow gateway disk lengthens the apply, not the reads', () => {
    const volumes = [{ hostIndex: 0, blocks: 10 * GiB_BLOCKS }];
    const fast = passTime(volumes, AWS_PROFILE);
    const slow = passTime(volumes, throughputProfile('aws', { gatewayMiBps: 10, targetVolumeMiBps: 10 }));
    expect(slow.streamSeconds).toBe(fast.streamSeconds);
    expect(slow.applySeconds).toBeGreaterThanOrEqual((10 * 1024) / 10);
  });
});

describe('failback estimate', () => {
  it('converges by the state machine’s rule: an incremental pass at most the threshold, never the full pass', () => {
    const estimate = estimateFailback(plan({ writes: { mibPerSecond: 0 } }), AWS_PROFILE);
    // Nothing is written: pass 2 carries nothing and converges; the full pass alone never does.
    expect(estimate.passes.map((pass) => [pass.kind, pass.role, pass.blocks])).toEqual([
      ['full', 'sync', 50 * GiB_BLOCKS],
      ['incremental', 'sync', 0],
      ['incremental', 'catch-up', 0],
      ['incremental', 'final', 0],
    ]);
    expect(estimate.passesToConvergence).toBe(2);
    expect(estimate.convergedByThreshold).toBe(true);
  });

  it('stops at maxPasses when the writes outrun the passes, and says the limit converged it', () => {
    const estimate = estimateFailback(
      plan({ writes: { mibPerSecond: 400 }, convergence: { thresholdMiB: 1, maxPasses: 4 } }),
      AWS_PROFILE,
    );
    expect(estimate.passesToConvergence).toBe(4);
    expect(estimate.convergedByThreshold).toBe(false);
    // Passes 1–4, the catch-up pass (converged: past the limit) and the final pass.
    expect(estimate.passes).toHaveLength(6);
    expect(estimate.finalPass.role).toBe('final');
  });

  it('predicts more passes and a longer downtime for a faster writer, and adds every pass to the sync time', () => {
    const slow = estimateFailback(plan({ writes: { mibPerSecond: 1 } }), AWS_PROFILE);
    const fast = estimateFailback(plan({ writes: { mibPerSecond: 20 } }), AWS_PROFILE);
    expect(fast.passesToConvergence).toBeGreaterThan(slow.passesToConvergence);
    expect(fast.downtimeSeconds).toBeGreaterThan(slow.downtimeSeconds);
    expect(fast.syncSeconds).toBeCloseTo(
      fast.passes.reduce((sum, pass) => sum + pass.seconds, 0),
      9,
    );
    expect(fast.downtimeSeconds).toBeGreaterThan(
      fast.finalPass.seconds + AWS_PROFILE.stopTakeoverSeconds + AWS_PROFILE.cutoverSeconds,
    );
  });
});

describe('throughput profiles', () => {
  it('refuses an unknown profile or field and a non-positive quota, naming it', () => {
    expect(() => throughputProfile('gcp')).toThrow(
      new InvalidInputError('profile "gcp" is unknown; choose one of aws, local'),
    );
    expect(() => throughputProfile('aws', { snapshotBlockQuota: 0 })).toThrow(
      'profile field snapshotBlockQuota must be a positive number',
    );
  });

  it("scales the local cloud's fixed steps with its CPU per block, keeping what was given", () => {
    const busy = throughputProfile('local', { cpuMsPerBlock: 2 * LOCAL_PROFILE.cpuMsPerBlock, cutoverSeconds: 1 });
    expect(busy.passOverheadSeconds).toBeCloseTo(2 * LOCAL_PROFILE.passOverheadSeconds, 9);
    expect(busy.gatewayMiBps).toBeCloseTo(LOCAL_PROFILE.gatewayMiBps / 2, 9);
    expect(busy.cutoverSeconds).toBe(1);
    expect(busy.applyPollSeconds).toBe(LOCAL_PROFILE.applyPollSeconds);
    expect(throughputProfile('aws', { cpuMsPerBlock: 1 }).passOverheadSeconds).toBe(AWS_PROFILE.passOverheadSeconds);
  });
});

describe('cutover estimate (the approval page)', () => {
  const last = {
    lastPassBytesChanged: 12 * 1024 * 1024,
    lastPassSeconds: 42,
    volumes: [{ hostId: 'i-0takeover' }],
  };

  it('follows the last pass: a pass that took twice as long predicts a final pass about twice as long', () => {
    const base = estimateCutover(last, AWS_PROFILE);
    const slower = estimateCutover({ ...last, lastPassSeconds: 84 }, AWS_PROFILE);
    expect(slower.finalPassSeconds / base.finalPassSeconds).toBeGreaterThan(1.6);
    expect(slower.finalPassSeconds / base.finalPassSeconds).toBeLessThan(2.4);
  });

  it('counts stopping the takeover hosts and the cutover into the downtime', () => {
    const estimate = estimateCutover(last, AWS_PROFILE);
    expect(estimate.downtimeSeconds).toBeGreaterThanOrEqual(
      estimate.finalPassSeconds + AWS_PROFILE.stopTakeoverSeconds + AWS_PROFILE.cutoverSeconds,
    );
  });
});
