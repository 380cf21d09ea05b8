import { HostNotFoundError } from '../compute/errors.js';
import { type ComputePort, type Host, idempotencyToken, type Tags, type VolumeInfo } from '../compute/port.js';
import { SeedTooSmallError, SnapshotNotFoundError, TransientError, VolumeNotFoundError } from '../errors.js';
import { SOURCE_VOLUME_TAG } from './adopt-target.js';
import { InvalidFailbackRequestError, SeedInUseError } from './errors.js';
import type { AwsFailbackSettings } from './host-settings.js';
import { type FailbackDeps, RUN_TAG, type RunVolume, type VolumeSeed } from './run-state.js';

/**
 * Seeds on AWS (the automated method): the EBS volumes that survived at home, each becoming the target of one takeover
 * volume so the first pass sends only the blocks that differ (core/engine/seed.ts). ValidateRequest checks the
 * request's seeds (`resolveAwsSeeds`); PrepareTarget takes each over (`prepareSeedTarget`): it never writes a seed
 * before a snapshot keeps its pre-failback state, tagged so an operator can find it and CleanUp leaves it.
 */

/** Tag on the snapshot keeping a seed's pre-failback state: the takeover volume the seed became the target of. */
export const PRESERVES_SEED_OF_TAG = 'homebound:preserves-seed-of';
/** Tag on that snapshot: the seed volume whose state it keeps. */
export const SEED_VOLUME_TAG = 'homebound:seed-volume';

/** A host entry's AWS settings as ValidateRequest reads them. */
export interface SeededHostEntry {
  readonly id: string;
  readonly failback: AwsFailbackSettings | undefined;
}

function fieldError(field: string, message: string): InvalidFailbackRequestError {
  return new InvalidFailbackRequestError(`failback request field ${field}: ${message}`);
}

/** Host states in which a volume must not be written under the host. */
const LIVE_STATES: readonly string[] = ['pending', 'running', 'stopping'];

/**
 * The run's volumes with their seeds: each host entry's `failback.seed.volumes`, one per takeover volume in device
 * order. Checks, naming the field: as many seeds as volumes; each seed exists (a snapshot: completed), is given once,
 * is no takeover volume, and is at least as large as its takeover volume (SeedTooSmallError); a seed volume attached
 * to a live instance needs `target.powerOffSeed`. Reads only (describe calls): nothing is created.
 * @throws InvalidFailbackRequestError, SeedTooSmallError, SeedInUseError
 */
export async function resolveAwsSeeds(
  entries: readonly SeededHostEntry[],
  volumes: readonly RunVolume[],
  powerOffSeed: boolean,
  compute: ComputePort,
): Promise<RunVolume[]> {
  const seeded = new Map<string, VolumeSeed>();
  const given = new Map<string, string>();
  const takeoverVolumeIds = new Set(volumes.map((volume) => volume.volumeId));
  for (const [i, entry] of entries.entries()) {
    const seeds = entry.failback?.seed?.volumes;
    if (!seeds) continue;
    const hostVolumes = volumes.filter((volume) => volume.hostId === entry.id);
    if (seeds.length !== hostVolumes.length) {
      throw fieldError(
        `hosts[${i}].failback.seed.volumes`,
        `${seeds.length} seed(s) for the ${hostVolumes.length} volume(s) of ${entry.id} (${hostVolumes
          .map((volume) => `${volume.device} ${volume.volumeId}`)
          .join(', ')}): give one per volume, in this device order`,
      );
    }
    for (const [j, seed] of seeds.entries()) {
      const volume = hostVolumes[j];
      if (!volume) continue;
      const id = 'volumeId' in seed ? seed.volumeId : seed.snapshotId;
      const field = `hosts[${i}].failback.seed.volumes[${j}].${'volumeId' in seed ? 'volumeId' : 'snapshotId'}`;
      const earlier = given.get(id);
      if (earlier !== undefined) throw fieldError(field, `${id} is also the seed of ${earlier}`);
      given.set(id, field);
      if ('volumeId' in seed) {
        if (takeoverVolumeIds.has(seed.volumeId)) {
          throw fieldError(field, `${seed.volumeId} is a takeover volume of this run, not a disk at home`);
        }
        const found = await describeSeedVolume(compute, seed.volumeId, field);
        if (found.sizeBytes < volume.sizeBytes)
          throw new SeedTooSmallError(`${field} ${id}`, found.sizeBytes, volume.sizeBytes);
        requireOptIn(compute, field, `volume ${seed.volumeId}`, found.tags);
        if (found.attachedTo !== undefined) {
          const host = await describeSeedHost(compute, found.attachedTo);
          const state = host?.state ?? 'terminated';
          if (LIVE_STATES.includes(state) && !powerOffSeed) {
            throw new SeedInUseError(field, seed.volumeId, found.attachedTo, state);
          }
          // Detaching is checked on the instance too.
          if (host)
            requireOptIn(compute, field, `instance ${host.hostId} (which ${seed.volumeId} is attached to)`, host.tags);
        }
      } else {
        const snapshot = await describeSeedSnapshot(compute, seed.snapshotId, field);
        if (snapshot.state !== 'completed') {
          throw fieldError(
            field,
            `snapshot ${seed.snapshotId} is ${snapshot.state}; a seed snapshot must be completed`,
          );
        }
        const sizeBytes = snapshot.volumeSizeBytes ?? 0;
        if (sizeBytes < volume.sizeBytes) throw new SeedTooSmallError(`${field} ${id}`, sizeBytes, volume.sizeBytes);
        if (Object.keys(compute.seedOptIn).length > 0) {
          const optedIn = await compute.findSnapshots(compute.seedOptIn);
          const tags = optedIn.some((candidate) => candidate.snapshotId === seed.snapshotId) ? compute.seedOptIn : {};
          requireOptIn(compute, field, `snapshot ${seed.snapshotId}`, tags);
        }
      }
      seeded.set(volume.volumeKey, {
        ...('volumeId' in seed ? { volumeId: seed.volumeId } : { snapshotId: seed.snapshotId }),
        field,
        powerOff: powerOffSeed,
      });
    }
  }
  return volumes.map((volume) => {
    const seed = seeded.get(volume.volumeKey);
    return seed ? { ...volume, seed } : { ...volume };
  });
}

async function describeSeedVolume(compute: ComputePort, volumeId: string, field: string): Promise<VolumeInfo> {
  const [found] = await compute.describeVolumes([volumeId]).catch((error: unknown) => {
    if (error instanceof VolumeNotFoundError) throw fieldError(field, `volume ${volumeId} does not exist`);
    throw error;
  });
  if (!found) throw fieldError(field, `volume ${volumeId} does not exist`);
  return found;
}

async function describeSeedSnapshot(compute: ComputePort, snapshotId: string, field: string) {
  const [found] = await compute.describeSnapshots([snapshotId]).catch((error: unknown) => {
    if (error instanceof SnapshotNotFoundError) throw fieldError(field, `snapshot ${snapshotId} does not exist`);
    throw error;
  });
  if (!found) throw fieldError(field, `snapshot ${snapshotId} does not exist`);
  return found;
}

async function describeSeedHost(compute: ComputePort, hostId: string): Promise<Host | undefined> {
  const [host] = await compute.describeHosts({ hostIds: [hostId] }).catch((error: unknown) => {
    if (error instanceof HostNotFoundError) return [];
    throw error;
  });
  return host;
}

/**
 * A seed (and the instance it is attached to) must carry this deployment's opt-in tag: IAM lets it snapshot, stop,
 * detach and tag only what does, so an untagged one would fail PrepareTarget after resources exist.
 */
function requireOptIn(compute: ComputePort, field: string, what: string, tags: Tags): void {
  const missing = Object.entries(compute.seedOptIn).find(([key, value]) => tags[key] !== value);
  if (!missing) return;
  throw fieldError(
    field,
    `${what} is not tagged ${missing[0]}=${missing[1]}; tag it to let this deployment take it over as a seed (docs/failback-request.md, "Seeds")`,
  );
}

/** A seed's target as PrepareTarget took it over. */
export interface SeedTarget {
  readonly targetVolumeId: string;
  /** The snapshot keeping the seed's state before homebound wrote it. */
  readonly preservedAs: string;
  /** What was seeded from, for the first pass's reason and the seed record: the seed volume or snapshot id. */
  readonly seed: string;
}

/** How long PrepareTarget waits for a seed's instance to stop and its volume to detach (well inside its 5 minutes). */
const SEED_WAIT_MS = 180_000;
const SEED_POLL_MS = 1_000;

/**
 * Makes a seed the target of `volume`, keeping its pre-failback state first:
 * - a seed volume: with `powerOff`, stops the instance it is attached to (waits until stopped) and detaches it
 *   (waits until detached); then snapshots it, tagged `homebound:preserves-seed-of=<takeover volume>`,
 *   `homebound:run`, `homebound:seed-volume`. The volume itself becomes the target: homebound writes the original
 *   disk, so nothing ever deletes it.
 * - a seed snapshot: tags it so (it is the preserved state, and stays the operator's) and creates the target volume
 *   from it (ClientToken from the run and volume).
 * Idempotent: a retry finds the preservation snapshot it took (by its tags) and a seed volume already on this run's
 * gateway as it left them.
 * @throws SeedInUseError (attached to a live instance without powerOff), the compute port's errors
 */
export async function prepareSeedTarget(
  runId: string,
  volume: RunVolume,
  seed: VolumeSeed,
  deps: FailbackDeps,
): Promise<SeedTarget> {
  const preserveTags: Tags = { [PRESERVES_SEED_OF_TAG]: volume.volumeId, [RUN_TAG]: runId };
  if (seed.snapshotId !== undefined) {
    const [snapshot] = await deps.compute.describeSnapshots([seed.snapshotId]);
    await deps.compute.createTags([seed.snapshotId], preserveTags);
    const targetVolumeId = await deps.compute.createVolume({
      clientToken: idempotencyToken(runId, 'seed', volume.volumeKey),
      sizeBytes: Math.max(volume.sizeBytes, snapshot?.volumeSizeBytes ?? 0),
      snapshotId: seed.snapshotId,
      tags: { [RUN_TAG]: runId, [SOURCE_VOLUME_TAG]: volume.volumeId, Name: `homebound ${volume.volumeKey}` },
    });
    await deps.compute.createTags([seed.snapshotId], { [SEED_VOLUME_TAG]: targetVolumeId });
    return { targetVolumeId, preservedAs: seed.snapshotId, seed: seed.snapshotId };
  }
  const seedVolumeId = seed.volumeId ?? '';
  const [preserved] = await deps.compute.findSnapshots(preserveTags);
  if (preserved) return { targetVolumeId: seedVolumeId, preservedAs: preserved.snapshotId, seed: seedVolumeId };
  await releaseSeed(runId, seedVolumeId, seed, deps);
  // Tagged as this deployment's, so the rights it has on its own target volumes (attach, cutover) apply to it.
  await deps.compute.claimVolume(seedVolumeId);
  const preservedAs = await deps.compute.snapshotVolume({
    volumeId: seedVolumeId,
    description: `homebound: ${seedVolumeId} before run ${runId} wrote it (seed of ${volume.volumeId})`,
    tags: { ...preserveTags, [SEED_VOLUME_TAG]: seedVolumeId },
  });
  return { targetVolumeId: seedVolumeId, preservedAs, seed: seedVolumeId };
}

/** Detaches a seed volume from its instance, stopping that first when the request allows it and it is live. */
async function releaseSeed(runId: string, volumeId: string, seed: VolumeSeed, deps: FailbackDeps): Promise<void> {
  const until = Date.now() + SEED_WAIT_MS;
  const [found] = await deps.compute.describeVolumes([volumeId]);
  const hostId = found?.attachedTo;
  if (hostId === undefined) return;
  const [host] = await deps.compute.describeHosts({ hostIds: [hostId] });
  // A retry after the first attempt attached it to this run's gateway: nothing to release.
  if (host?.role === 'gateway' && host.tags[RUN_TAG] === runId) return;
  const state = host?.state ?? 'terminated';
  if (LIVE_STATES.includes(state)) {
    if (!seed.powerOff) throw new SeedInUseError(seed.field, volumeId, hostId, state);
    if (state !== 'stopping') await deps.compute.stopInstances([hostId]);
    await waitFor(until, `${hostId} to stop`, async () => {
      const [now] = await deps.compute.describeHosts({ hostIds: [hostId] });
      return now?.state === 'stopped' || now?.state === 'terminated';
    });
  }
  await deps.compute.detachVolume(volumeId);
  await waitFor(until, `${volumeId} to detach from ${hostId}`, async () => {
    const [now] = await deps.compute.describeVolumes([volumeId]);
    return now?.attachedTo === undefined;
  });
}

async function waitFor(until: number, what: string, done: () => Promise<boolean>): Promise<void> {
  while (!(await done())) {
    if (Date.now() >= until) {
      // TransientError: the state machine retries PrepareTarget, which finds what this attempt did and waits again.
      throw new TransientError(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, SEED_POLL_MS));
  }
}
