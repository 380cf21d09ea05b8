import { BLOCK_SIZE } from '../blocks.js';
import type { ThroughputProfile } from './profile.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The rate governor's start-up burst at most (core/engine/rate-governor.ts: min(64, rate / 3, ceiling − rate)). */
const GOVERNOR_BURST = 64;
/** Share of the snapshot quota split invocations use together, and each one's burst (core/failback/stream-split.ts). */
const SNAPSHOT_BUDGET_SHARE = 0.9;
const BURST_SECONDS = 0.05;
const MIN_BURST_TOKENS = 1;

/** What limited a pass's reads the most (for the operator: which knob to turn). */
export type PassLimit =
  | 'snapshot quota'
  | 'account quota'
  | 'call latency'
  | 'engine CPU'
  | 'governor ramp'
  | 'gateway disk'
  | 'fixed steps';

export interface PassTime {
  /** Snapshot taken → readable (including the CheckSnapshots polls). */
  readonly snapshotSeconds: number;
  /** Readable → every volume staged: listing, reading, staging, the map's own steps. */
  readonly streamSeconds: number;
  /** Staged → acknowledged by every gateway, as CheckApplied sees it (its polls included). */
  readonly applySeconds: number;
  /** StreamPass invocations per volume at most. */
  readonly invocationsPerVolume: number;
  /** Blocks per second the busiest second of reading carried over all volumes. */
  readonly blocksPerSecond: number;
  readonly limitedBy: PassLimit;
}

/** How StreamPass splits a volume of `blocks` refs: invocations and each one's rate ceiling (splitPass's rule). */
export function streamSplit(blocks: number, profile: ThroughputProfile): { invocations: number; ceiling: number } {
  const shards = Math.max(1, Math.ceil(blocks / profile.shardBlocks));
  const budget = profile.snapshotBlockQuota * SNAPSHOT_BUDGET_SHARE;
  const ceiling = (count: number) => {
    const allowance = budget / count;
    return Math.floor(Math.min(allowance - MIN_BURST_TOKENS, allowance / (1 + BURST_SECONDS)));
  };
  let count = Math.min(profile.invocationsPerVolume, shards);
  while (count >= 2 && ceiling(count) < 1) count -= 1;
  if (count < 2) return { invocations: 1, ceiling: profile.snapshotBlockQuota };
  return { invocations: count, ceiling: ceiling(count) };
}

/**
 * Seconds for a governor with ceiling `cap` req/s to send `requests`: it starts at min(initial, cap) with a burst of
 * tokens and grows by the slow-start factor each tick while callers wait for it, up to `cap`.
 */
export function governedSendSeconds(requests: number, cap: number, profile: ThroughputProfile): number {
  const { initialRate, slowStartFactor, tickSeconds } = profile.governor;
  let rate = Math.min(initialRate, cap);
  let sent = Math.max(1, Math.min(GOVERNOR_BURST, rate / 3, cap - rate));
  let seconds = 0;
  while (sent < requests) {
    const inTick = rate * tickSeconds;
    if (sent + inTick >= requests || rate >= cap) return seconds + (requests - sent) / rate;
    sent += inTick;
    seconds += tickSeconds;
    rate = Math.min(cap, rate * slowStartFactor);
  }
  return seconds;
}

/** The largest of `values`, 0 for none (no spread: a fleet may have more volumes than a call takes arguments). */
function largest(values: readonly number[]): number {
  return values.reduce((top, value) => (value > top ? value : top), 0);
}

/** Rounds `seconds` up to the next poll of a check that runs at once and then every `poll` seconds. */
function polled(seconds: number, poll: number): number {
  if (seconds <= 0 || poll <= 0) return Math.max(0, seconds);
  return Math.ceil(seconds / poll - 1e-9) * poll;
}

export interface PassVolume {
  readonly hostIndex: number;
  /** Blocks this pass lists and reads for the volume. */
  readonly blocks: number;
}

/**
 * How long one pass takes under `profile`: the snapshot, the reads of every volume (per snapshot, per account and
 * List quotas, call latency and in-flight calls, the governor's ramp, StreamPass splitting, the map's volumes at
 * once, Lambda concurrency, engine CPU), and the gateways' writes. docs/estimate.md gives the formulas.
 */
export function passTime(
  volumes: readonly PassVolume[],
  profile: ThroughputProfile,
  options: { readonly first?: boolean } = {},
): PassTime {
  const totalBlocks = volumes.reduce((sum, volume) => sum + volume.blocks, 0);
  const latency = profile.callLatencyMs / 1000;
  // Every volume's snapshot is taken at once: the largest delta sets the time.
  const largestDelta = largest(volumes.map((volume) => volume.blocks));
  const snapshotReady = profile.snapshotSeconds + profile.snapshotSecondsPerGiB * ((largestDelta * BLOCK_SIZE) / GiB);
  // A snapshot complete when CreateSnapshots returns is readable at the first check; else the checks poll.
  const snapshotSeconds = profile.snapshotBeforeStart
    ? snapshotReady
    : polled(snapshotReady, profile.snapshotPollSeconds);

  const splits = volumes.map((volume) => streamSplit(volume.blocks, profile));
  const invocationsPerVolume = Math.max(1, largest(splits.map((split) => split.invocations)));
  const slots = Math.max(
    1,
    Math.min(
      profile.maxConcurrentVolumes,
      volumes.length,
      Math.floor(profile.lambdaConcurrency / invocationsPerVolume) || 1,
    ),
  );
  // Volumes streaming at once share the account quota and, where the invocations share one CPU, that CPU.
  const accountShare = profile.accountBlockQuota / slots;
  const cpuRate = 1000 / profile.cpuMsPerBlock;
  const listSeconds = (blocks: number) => Math.max(1, Math.ceil(blocks / profile.listPageBlocks)) * latency;

  const volumeLimits: PassLimit[] = [];
  const volumeSeconds = volumes.map((volume, i) => {
    const split = splits[i] ?? { invocations: 1, ceiling: profile.snapshotBlockQuota };
    if (volume.blocks === 0) {
      volumeLimits.push('fixed steps');
      return listSeconds(0);
    }
    const perInvocation: [PassLimit, number][] = [
      ['snapshot quota', split.ceiling],
      ['account quota', accountShare / split.invocations],
      ['call latency', latency > 0 ? profile.governor.maxInFlight / latency : Number.POSITIVE_INFINITY],
      ['engine CPU', profile.cpuShared ? cpuRate / (slots * split.invocations) : cpuRate],
    ];
    const [limit, cap] = perInvocation.reduce((low, entry) => (entry[1] < low[1] ? entry : low));
    const requests = volume.blocks / split.invocations;
    const sending = governedSendSeconds(requests, cap, profile);
    volumeLimits.push(sending - requests / cap > requests / cap ? 'governor ramp' : limit);
    // With the calls in flight capped, answers come back in rounds of one call's latency.
    const rounds = latency > 0 ? Math.ceil(requests / profile.governor.maxInFlight) * latency : 0;
    // The last answer arrives a call (and a block's CPU) after the last request left.
    return listSeconds(volume.blocks) + Math.max(sending + latency, rounds) + profile.cpuMsPerBlock / 1000;
  });
  // The Distributed Map starts volumes in order as slots free up.
  const slotFree = Array.from({ length: slots }, () => 0);
  const doneAt = volumeSeconds.map((seconds) => {
    const slot = slotFree.indexOf(Math.min(...slotFree));
    slotFree[slot] = (slotFree[slot] ?? 0) + seconds;
    return slotFree[slot] ?? 0;
  });
  const listPages = volumes.reduce((sum, v) => sum + Math.max(1, Math.ceil(v.blocks / profile.listPageBlocks)), 0);
  const reading = Math.max(largest(doneAt), listPages / profile.listQuota);
  const streamSeconds = profile.passOverheadSeconds + reading;

  // The applier fetches and verifies a volume's whole pass once it is sealed, then writes it (core/engine/applier.ts):
  // after the reads, each gateway (one per host here) writes its hosts' bytes, then the tail (verify, fsync, ack),
  // seen at CheckApplied's next poll.
  const hostBytes = new Map<number, number>();
  for (const volume of volumes) {
    hostBytes.set(volume.hostIndex, (hostBytes.get(volume.hostIndex) ?? 0) + volume.blocks * BLOCK_SIZE);
  }
  const largestVolume = largest(volumes.map((volume) => volume.blocks * BLOCK_SIZE));
  const writing = Math.max(
    largestVolume / MiB / profile.targetVolumeMiBps,
    largest([...hostBytes.values()]) / MiB / profile.gatewayMiBps,
  );
  // The first pass waits for the gateways to be up, counted from the pass's start.
  const inPass = (profile.snapshotBeforeStart ? 0 : snapshotSeconds) + streamSeconds;
  const lag = Math.max(writing + profile.applyTailSeconds, options.first ? profile.gatewayBootSeconds - inPass : 0);
  const applySeconds = totalBlocks > 0 ? polled(lag, profile.applyPollSeconds) : 0;

  const fixed = snapshotSeconds + streamSeconds - reading + profile.applyTailSeconds;
  const slowest = volumeSeconds.indexOf(largest(volumeSeconds));
  const limitedBy: PassLimit =
    writing > reading && writing > fixed
      ? 'gateway disk'
      : reading > fixed
        ? (volumeLimits[slowest] ?? 'fixed steps')
        : 'fixed steps';
  return {
    snapshotSeconds,
    streamSeconds,
    applySeconds,
    invocationsPerVolume,
    blocksPerSecond: reading > 0 ? totalBlocks / reading : 0,
    limitedBy,
  };
}
