import { HomeboundError, InvalidInputError } from '../errors.js';
import type { PlatformRun, TargetPlatform } from '../onprem/platform.js';
import type { Staging } from '../ports.js';
import type { RunFollower } from './follower.js';
import { type HeldAnswer, proveHeldSnapshots } from './held-snapshots.js';
import { type PrepareTargetInput, parseOperation } from './operations.js';
import { RUN_RECORD_FORMAT, type RunRecord, type RunStore } from './run-store.js';
import { type PublishedSeed, publishSeeds, seedsAfterRollback } from './seeds.js';
import { checkWaveHealth } from './wave-health.js';

/** A boot step, cutover or verify for a run this agent never prepared (PrepareTarget went to another agent?). */
/** Where an agent writes a run's records unless PrepareTarget says otherwise. */
export function agentRecordsPrefix(runId: string): string {
  return `runs/${runId}/agent/`;
}

export class RunNotPreparedError extends HomeboundError {
  constructor(
    readonly runId: string,
    operation: string,
  ) {
    super(`${operation}: this agent has not prepared run ${runId} (no PrepareTarget reached it)`);
  }
}

/**
 * PrepareTarget for a run that already cut over or rolled back (its disks are no longer the agent's to write), or a
 * boot step for a run that rolled back (its VMs must stay off).
 */
export class RunEndedError extends HomeboundError {
  constructor(
    readonly runId: string,
    phase: string,
  ) {
    super(`run ${runId} has ended here (${phase}); a new attempt needs a new run`);
  }
}

export interface OperationContext {
  readonly platform: TargetPlatform;
  readonly store: RunStore;
  readonly follower: RunFollower;
  /** The agent's state dir, where the applier journals that prove what a disk holds are. */
  readonly stateDir: string;
  /**
   * The run's store at a key prefix: where PrepareTarget publishes seed hash lists (the follower writes its records
   * through its own). @default none — a seeded run then fails PrepareTarget
   */
  readonly stagingAt?: (prefix: string) => Staging;
  readonly now?: () => Date;
}

/**
 * Runs one activity task's operation and returns its small JSON result (what SendTaskSuccess carries).
 * PrepareTarget records the run and starts following it; Cutover and Rollback stop following it (and record that)
 * before they touch the hosts, so a restarted agent never resumes writing a disk a VM now owns.
 * @throws InvalidInputError, UnknownOperationError, RunNotPreparedError, RunEndedError, the platform's errors
 */
export async function handleOperation(
  context: OperationContext,
  inputText: string,
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  const input = parseOperation(inputText);
  if (input.operation === 'PrepareTarget') return prepareTarget(context, input, signal);
  const { platform } = context;
  const record = await context.store.get(input.runId);
  const base = { operation: input.operation, runId: input.runId, platform: platform.kind };
  if (input.operation === 'Rollback') {
    if (record) await endRun(context, record, 'rolled-back');
    // Without a record (PrepareTarget never finished here) the platform still looks for the run's hosts by its id.
    const outcome = await platform.rollback(
      record ? runOf(record) : { runId: input.runId, hosts: [], volumes: [] },
      signal,
    );
    return {
      ...base,
      ...outcome,
      disksKept: record?.disks.map((disk) => disk.location) ?? [],
      ...seedsAfterRollback(record),
    };
  }
  if (!record) throw new RunNotPreparedError(input.runId, input.operation);
  const run = runOf(record);
  const now = context.now ?? (() => new Date());
  switch (input.operation) {
    case 'VerificationBoot': {
      if (record.phase === 'rolled-back') throw new RunEndedError(input.runId, record.phase);
      const wave = waveOf(run, input.hostIds, input.operation);
      return {
        ...base,
        hostIds: wave.hosts.map((host) => host.hostId),
        ...(await platform.verificationBoot(wave, signal)),
      };
    }
    case 'Cutover': {
      if (record.phase === 'rolled-back') throw new RunEndedError(input.runId, record.phase);
      const wave = waveOf(run, input.hostIds, input.operation);
      // The first wave's Cutover ends the following: the final pass is applied to every disk by then (CheckApplied),
      // so the later waves' disks are no longer written either; their Cutover finds the run cut over and goes on.
      if (record.phase === 'prepared') await endRun(context, record, 'cutover');
      const startedAt = now().toISOString();
      const outcome = await platform.cutover(wave, signal);
      return { ...base, hostIds: wave.hosts.map((host) => host.hostId), startedAt, ...outcome };
    }
    case 'CheckWaveHealth':
      return {
        ...base,
        ...(await checkWaveHealth(platform, waveOf(run, input.hostIds, input.operation), input, signal, now)),
      };
    case 'Verify':
      return { ...base, ...(await platform.verify(run, signal)), hosts: await platform.describe(run, signal) };
  }
}

async function prepareTarget(
  context: OperationContext,
  input: PrepareTargetInput,
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  const existing = await context.store.get(input.runId);
  if (existing && existing.phase !== 'prepared') throw new RunEndedError(input.runId, existing.phase);
  const run = platformRunOf(input);
  const prepared = await context.platform.prepare(run, signal);
  const held = await heldBases(context, input, existing, prepared.disks);
  // A seed is hashed only where the first pass is not incremental from a held base (that needs no comparison).
  const seeds = held.allHeld
    ? new Map<string, PublishedSeed>()
    : await publishSeeds(
        context.stagingAt,
        { ...input, recordsPrefix: input.recordsPrefix ?? agentRecordsPrefix(input.runId) },
        existing,
        prepared.disks,
        signal,
      );
  const record: RunRecord = {
    format: RUN_RECORD_FORMAT,
    runId: input.runId,
    platform: context.platform.kind,
    hosts: [...run.hosts],
    volumes: [...run.volumes],
    disks: prepared.disks.map(({ seed: _seed, ...disk }) => {
      const holds = held.allHeld ? held.answers.find((answer) => answer.volumeKey === disk.volumeKey) : undefined;
      if (holds) return { ...disk, holdsSnapshotId: holds.snapshotId };
      const seed = seeds.get(disk.volumeKey);
      if (seed === undefined) return disk;
      const { baseId, ...kept } = seed;
      // The applier's journal starts at the seed: the seeded pass is based on it, never blanks the disk.
      return { ...disk, holdsSnapshotId: baseId, seed: kept };
    }),
    stagingPrefix: input.stagingPrefix ?? `runs/${input.runId}/volumes/`,
    recordsPrefix: input.recordsPrefix ?? agentRecordsPrefix(input.runId),
    ...(input.heartbeat ? { heartbeat: { intervalSeconds: input.heartbeat.intervalSeconds } } : {}),
    ...(input.ackKey ? { ackKey: input.ackKey } : {}),
    following: true,
    phase: 'prepared',
    updatedAt: (context.now ?? (() => new Date()))().toISOString(),
  };
  // A retried PrepareTarget finds the run followed already; the platform's prepare is idempotent.
  await context.store.put(record);
  context.follower.follow(record);
  return {
    operation: input.operation,
    runId: input.runId,
    platform: context.platform.kind,
    following: true,
    disks: prepared.disks.map(({ volumeId, volumeKey, path, sizeBytes, created, location }) => {
      const seed = seeds.get(volumeKey);
      return {
        volumeId,
        volumeKey,
        path,
        sizeBytes,
        created,
        location,
        // What SnapshotVolumes turns into the first pass's `snapshot.seed` (a seeded pass of this volume).
        ...(seed ? { seed: { recordKey: seed.recordKey, preservedAs: seed.preservedAs, vm: seed.vm } } : {}),
      };
    }),
    hosts: prepared.hosts,
    ...(input.bases ? { held: held.answers, allHeld: held.allHeld } : {}),
    // What SnapshotVolumes starts the first pass from, and the run report's reason.
    bases: held.allHeld ? (input.bases ?? []) : [],
    firstPass: firstPassOf(input, held, seeds),
  };
}

function firstPassOf(
  input: PrepareTargetInput,
  held: { answers: HeldAnswer[]; allHeld: boolean },
  seeds: ReadonlyMap<string, PublishedSeed>,
): { kind: 'full' | 'incremental' | 'seeded'; reason: string } {
  if (seeds.size > 0) {
    return {
      kind: 'seeded',
      reason: `${seeds.size} of ${input.volumes.length} disks are seed disks, hashed and compared: ${[...seeds].map(([volumeKey, seed]) => `${volumeKey} ← ${seed.vm} (pre-failback state kept as ${seed.preservedAs})`).join('; ')}`,
    };
  }
  if (held.allHeld) {
    return {
      kind: 'incremental',
      reason: `every disk holds its kept snapshot (${held.answers.map((answer) => `${answer.volumeKey}: ${answer.reason}`).join('; ')})`,
    };
  }
  if (held.answers.length === 0) return { kind: 'full', reason: input.noBaseReason || 'no kept snapshot was proposed' };
  const refused = held.answers.filter((answer) => !answer.held);
  return {
    kind: 'full',
    reason: `the agent's journals do not prove every disk holds its kept snapshot (${refused.map((answer) => `${answer.volumeKey}: ${answer.reason}`).join('; ') || 'not every volume has one'})`,
  };
}

/**
 * Which proposed bases the disks provably hold (core/agent/held-snapshots.ts). A retried PrepareTarget answers what
 * the first attempt recorded: by then this run's own journals exist, and they must not change the answer.
 */
async function heldBases(
  context: OperationContext,
  input: PrepareTargetInput,
  existing: RunRecord | undefined,
  disks: readonly { volumeKey: string; path: string }[],
): Promise<{ answers: HeldAnswer[]; allHeld: boolean }> {
  const bases = input.bases ?? [];
  if (bases.length === 0) return { answers: [], allHeld: false };
  if (existing) {
    const answers = bases.map((base) => {
      const held = existing.disks.some(
        (disk) => disk.volumeKey === base.volumeKey && disk.holdsSnapshotId === base.snapshotId,
      );
      return { ...base, held, reason: held ? 'recorded by the first PrepareTarget' : 'not held at the first attempt' };
    });
    return { answers, allHeld: answers.every((answer) => answer.held) };
  }
  const answers = await proveHeldSnapshots({
    runId: input.runId,
    disks,
    bases,
    records: await context.store.list(),
    stateDir: context.stateDir,
  });
  const allHeld = answers.length === input.volumes.length && answers.every((answer) => answer.held);
  return { answers, allHeld };
}

async function endRun(context: OperationContext, record: RunRecord, phase: RunRecord['phase']): Promise<void> {
  await context.follower.stop(record.runId);
  await context.store.put({
    ...record,
    following: false,
    phase,
    updatedAt: (context.now ?? (() => new Date()))().toISOString(),
  });
}

/** The run as the platform sees it, each volume's device order filled in from its place among its host's volumes. */
function platformRunOf(input: PrepareTargetInput): PlatformRun {
  const perHost = new Map<string, number>();
  const volumes = input.volumes.map((volume) => {
    const position = perHost.get(volume.hostId) ?? 0;
    perHost.set(volume.hostId, position + 1);
    return {
      volumeId: volume.volumeId,
      hostId: volume.hostId,
      volumeKey: volume.volumeKey,
      deviceIndex: volume.deviceIndex ?? position,
      sizeBytes: volume.sizeBytes,
    };
  });
  return { runId: input.runId, hosts: input.hosts, volumes };
}

/**
 * The run narrowed to one wave's takeover hosts and their volumes; without `hostIds`, the whole run.
 * @throws InvalidInputError naming an id that is no host of the run
 */
function waveOf(run: PlatformRun, hostIds: readonly string[] | undefined, operation: string): PlatformRun {
  if (hostIds === undefined) return run;
  hostIds.forEach((hostId, index) => {
    if (!run.hosts.some((host) => host.hostId === hostId)) {
      throw new InvalidInputError(
        `${operation} input is invalid: hostIds.${index}: ${hostId} is no host of run ${run.runId}`,
      );
    }
  });
  const wave = new Set(hostIds);
  return {
    runId: run.runId,
    hosts: run.hosts.filter((host) => wave.has(host.hostId)),
    volumes: run.volumes.filter((volume) => wave.has(volume.hostId)),
  };
}

function runOf(record: RunRecord): PlatformRun {
  return { runId: record.runId, hosts: record.hosts, volumes: record.volumes };
}
