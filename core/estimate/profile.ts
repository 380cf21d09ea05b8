import { InvalidInputError } from '../errors.js';

/**
 * What a place (AWS, the local cloud) and a deployment give a failback per second: the quotas, latencies, CPU and
 * disk the passes run under, and the fixed steps around them. Every field is one term of docs/estimate.md.
 */
export interface ThroughputProfile {
  readonly name: string;
  /** GetSnapshotBlock requests/s every reader of one snapshot shares (AWS: 1,000, fixed). */
  readonly snapshotBlockQuota: number;
  /** GetSnapshotBlock requests/s every snapshot of the account shares (AWS: 1,000 by default, adjustable). */
  readonly accountBlockQuota: number;
  /** ListSnapshotBlocks/ListChangedBlocks requests/s of the account (AWS: 50). */
  readonly listQuota: number;
  /** Block refs per List page (MaxResults, at most 10,000). */
  readonly listPageBlocks: number;
  /** Time one EBS direct API call takes, request to answer (AWS's guidance: ~100 ms). */
  readonly callLatencyMs: number;
  /** Wall time of the engine per block read, verified and staged, on one invocation's CPU. */
  readonly cpuMsPerBlock: number;
  /** Every StreamPass invocation shares one CPU (the local runner runs them in one process), instead of one each. */
  readonly cpuShared: boolean;
  /**
   * The fixed steps are CPU work on the same cores as the reads (the local cloud): measured at this profile's
   * `cpuMsPerBlock`, they take proportionally longer when a slower machine (or a busier one) is given a higher one.
   */
  readonly cpuBoundSteps: boolean;
  /** The rate governor of every invocation (core/engine/rate-governor.ts): its start, ramp and calls in flight. */
  readonly governor: {
    readonly initialRate: number;
    readonly maxInFlight: number;
    readonly slowStartFactor: number;
    readonly tickSeconds: number;
  };
  /** StreamPass splitting (core/failback/stream-split.ts). */
  readonly invocationsPerVolume: number;
  readonly shardBlocks: number;
  /** Volumes streaming at once: the StreamPass Distributed Map's MaxConcurrency. */
  readonly maxConcurrentVolumes: number;
  /** Lambda invocations that may run at once (the account's or the function's reserved concurrency). */
  readonly lambdaConcurrency: number;
  /** MiB/s one sync gateway writes over all its target volumes (its instance's EBS bandwidth, or the local disk). */
  readonly gatewayMiBps: number;
  /** MiB/s one target volume takes (gp3's baseline: 125). */
  readonly targetVolumeMiBps: number;
  /** Stream done → the gateway's acknowledgement, besides writing the data: last segment, verify, fsync, ack. */
  readonly applyTailSeconds: number;
  /** SnapshotVolumes → snapshots readable, fixed part. */
  readonly snapshotSeconds: number;
  /**
   * CreateSnapshots returns only once the snapshots are complete (the local compute adapter copies them then), so a
   * pass's record (`startedAt`, taken after it) leaves the snapshot out; on AWS it returns at once and the wait for
   * `completed` is part of the pass.
   */
  readonly snapshotBeforeStart: boolean;
  /** … and per GiB the snapshot holds that its parent does not (the whole used volume for the first). */
  readonly snapshotSecondsPerGiB: number;
  /** The Wait states between CheckSnapshots and between CheckApplied calls (the local runner shortens them). */
  readonly snapshotPollSeconds: number;
  readonly applyPollSeconds: number;
  /** Per pass: starting the StreamPass map, planning, sealing, exporting its results, RecordPass. */
  readonly passOverheadSeconds: number;
  /**
   * The run's first pass cannot be applied before the sync gateways are up: launched by PrepareTarget, booted, the
   * gateway started (locally a process compiling its TypeScript). Counted from the first pass's start.
   */
  readonly gatewayBootSeconds: number;
  /** RecordPass → the next pass's snapshot. */
  readonly passGapSeconds: number;
  /** Converged → approval asked: failback hosts launched and parked. */
  readonly launchFailbackSeconds: number;
  /** StopTakeoverHosts → every takeover host stopped. */
  readonly stopTakeoverSeconds: number;
  /** Final pass applied → failback hosts verified: gateway stopped, volumes moved, hosts started and checked. */
  readonly cutoverSeconds: number;
}

/** The rate governor's defaults (core/engine/rate-governor.ts: initial 200/s, 64 in flight, ×1.5 per 250 ms tick). */
const GOVERNOR = { initialRate: 200, maxInFlight: 64, slowStartFactor: 1.5, tickSeconds: 0.25 } as const;

/**
 * AWS as documented and as deployed by default. Quotas and splitting are AWS's and the stack's; the CPU figure is the
 * bench's (docs/bench.md: ~15 ms of engine CPU per MiB moved, so ~7.5 ms per block on Lambda's one vCPU at 1,769 MB);
 * the snapshot, EC2 and gateway figures are assumptions (docs/estimate.md says which), to be replaced by measured ones.
 */
export const AWS_PROFILE: ThroughputProfile = {
  name: 'aws',
  snapshotBlockQuota: 1000,
  accountBlockQuota: 1000,
  listQuota: 50,
  listPageBlocks: 10_000,
  callLatencyMs: 100,
  cpuMsPerBlock: 7.5,
  cpuShared: false,
  cpuBoundSteps: false,
  governor: GOVERNOR,
  invocationsPerVolume: 4,
  shardBlocks: 1024,
  maxConcurrentVolumes: 8,
  lambdaConcurrency: 1000,
  gatewayMiBps: 600,
  targetVolumeMiBps: 125,
  applyTailSeconds: 2,
  snapshotSeconds: 30,
  snapshotBeforeStart: false,
  snapshotSecondsPerGiB: 2,
  snapshotPollSeconds: 10,
  applyPollSeconds: 5,
  passOverheadSeconds: 5,
  gatewayBootSeconds: 120,
  passGapSeconds: 1,
  launchFailbackSeconds: 90,
  stopTakeoverSeconds: 60,
  cutoverSeconds: 150,
};

/**
 * The local cloud of `homebound drill` on the development machine (2 vCPU, shared), unthrottled: measured from drills
 * (docs/estimate.md, "Calibrating the local cloud"). Quota and latency are what the drill's --ebs-quota and
 * --ebs-latency-ms set.
 */
export const LOCAL_PROFILE: ThroughputProfile = {
  name: 'local',
  snapshotBlockQuota: 1000,
  accountBlockQuota: Number.POSITIVE_INFINITY,
  listQuota: Number.POSITIVE_INFINITY,
  listPageBlocks: 10_000,
  callLatencyMs: 0,
  cpuMsPerBlock: 8,
  cpuShared: true,
  cpuBoundSteps: true,
  governor: GOVERNOR,
  invocationsPerVolume: 4,
  shardBlocks: 1024,
  maxConcurrentVolumes: 8,
  lambdaConcurrency: Number.POSITIVE_INFINITY,
  gatewayMiBps: 200,
  targetVolumeMiBps: Number.POSITIVE_INFINITY,
  applyTailSeconds: 0.225,
  snapshotSeconds: 0.225,
  snapshotBeforeStart: true,
  snapshotSecondsPerGiB: 4.5,
  snapshotPollSeconds: 0.25,
  applyPollSeconds: 0.25,
  passOverheadSeconds: 0.1,
  gatewayBootSeconds: 1.5,
  passGapSeconds: 0.075,
  launchFailbackSeconds: 0.4,
  stopTakeoverSeconds: 0.27,
  cutoverSeconds: 0.2,
};

/** The fixed steps that are CPU work where `cpuBoundSteps` holds; `gatewayMiBps` scales the other way. */
const CPU_BOUND_STEPS = [
  'snapshotSeconds',
  'snapshotSecondsPerGiB',
  'passOverheadSeconds',
  'gatewayBootSeconds',
  'passGapSeconds',
  'applyTailSeconds',
  'cutoverSeconds',
] as const satisfies readonly (keyof ThroughputProfile)[];

export const PROFILES: Readonly<Record<string, ThroughputProfile>> = { aws: AWS_PROFILE, local: LOCAL_PROFILE };

/**
 * The named profile with some fields replaced (the CLI's --quota, --latency-ms, … or a plan's `profile` object).
 * @throws InvalidInputError naming an unknown profile or a field that is not a positive number (0 allowed where a
 *   time may be none)
 */
export type ProfileOverrides = Partial<
  Omit<ThroughputProfile, 'name' | 'governor' | 'cpuShared' | 'cpuBoundSteps' | 'snapshotBeforeStart'>
>;

/**
 * The named profile with some fields replaced (the CLI's --quota, --latency-ms, … or a plan's `profile` object). On a
 * profile whose fixed steps are CPU work, a new `cpuMsPerBlock` scales the steps not replaced as well.
 * @throws InvalidInputError naming an unknown profile or a field that is not a positive number (0 allowed where a
 *   time may be none)
 */
export function throughputProfile(name: string, overrides: ProfileOverrides = {}): ThroughputProfile {
  const base = PROFILES[name];
  if (!base)
    throw new InvalidInputError(`profile "${name}" is unknown; choose one of ${Object.keys(PROFILES).join(', ')}`);
  const given: Record<string, number> = {};
  for (const [field, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!(field in base)) throw new InvalidInputError(`profile field "${field}" is unknown`);
    const mayBeZero = /Seconds|Ms$/.test(field) && field !== 'cpuMsPerBlock';
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (!mayBeZero && value === 0)) {
      throw new InvalidInputError(`profile field ${field} must be a ${mayBeZero ? 'non-negative' : 'positive'} number`);
    }
    given[field] = value;
  }
  const scaled: Record<string, number> = {};
  const factor = (given.cpuMsPerBlock ?? base.cpuMsPerBlock) / base.cpuMsPerBlock;
  if (base.cpuBoundSteps && factor !== 1) {
    for (const field of CPU_BOUND_STEPS) scaled[field] = base[field] * factor;
    scaled.gatewayMiBps = base.gatewayMiBps / factor;
  }
  return { ...base, ...scaled, ...given };
}
