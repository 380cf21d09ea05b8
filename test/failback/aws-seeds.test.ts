import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { statePath, volumePath } from '../../core/compute/local-state.js';
import { SeedTooSmallError } from '../../core/errors.js';
import { PRESERVES_SEED_OF_TAG, SEED_VOLUME_TAG } from '../../core/failback/aws-seeds.js';
import { InvalidFailbackRequestError, SeedInUseError } from '../../core/failback/errors.js';
import { type FailbackDeps, RUN_TAG } from '../../core/failback/run-state.js';
import { cleanUp } from '../../core/failback/steps/clean-up.js';
import { prepareTarget } from '../../core/failback/steps/prepare-target.js';
import { snapshotVolumes } from '../../core/failback/steps/snapshots.js';
import { validateRequest } from '../../core/failback/steps/validate-request.js';
import { LOCAL_TAKEOVER_TAG } from '../../core/failback/takeover-tag.js';
import { parseGatewayUserData } from '../../core/gateway/config.js';
import { readVolume, writeVolumeBlocks } from '../../core/localcloud/local-volume.js';
import { type ComputeFixture, computeFixture, hostState, MiB, waitUntil } from '../compute/local-compute-helpers.js';
import { stepDeps } from '../support/step-deps.js';

let fixture: ComputeFixture;
let deps: FailbackDeps;
let takeoverId: string;

beforeEach(async () => {
  fixture = await computeFixture();
  deps = stepDeps(fixture.compute);
  const host = await fixture.compute.createTakeoverHost({
    name: 'app',
    volumes: [{ sizeBytes: 2 * MiB }, { sizeBytes: MiB }],
    writesPerSecond: 0,
    tags: { [LOCAL_TAKEOVER_TAG.key]: LOCAL_TAKEOVER_TAG.value },
  });
  takeoverId = host.hostId;
});
afterEach(async () => {
  await fixture.cleanup();
});

/** The original production instance at home: its volumes hold `content` (one random block each), it runs or not. */
async function originalHost(sizes: readonly number[], running: boolean) {
  const content = sizes.map(() => randomBytes(BLOCK_SIZE));
  const host = await fixture.compute.createTakeoverHost({
    name: 'original',
    volumes: sizes.map((sizeBytes) => ({ sizeBytes })),
    writesPerSecond: 0,
  });
  for (const [i, volume] of host.volumes.entries()) {
    await writeVolumeBlocks(volumePath(fixture.stateDir, volume.volumeId), 1, content[i] ?? Buffer.alloc(0));
  }
  if (!running) {
    await fixture.compute.stopInstances([host.hostId]);
    await waitUntil(async () => (await hostState(fixture.compute, host.hostId)) === 'stopped');
  }
  return { host, content, volumeIds: host.volumes.map((volume) => volume.volumeId) };
}

/** The user data a host was launched with, as the local compute adapter keeps it. */
async function gatewayUserData(hostId: string): Promise<string> {
  const state = JSON.parse(await readFile(statePath(fixture.stateDir), 'utf8')) as {
    hosts: Record<string, { userData?: string }>;
  };
  return state.hosts[hostId]?.userData ?? '';
}

const request = (seed: unknown, target: Record<string, unknown> = {}) => ({
  method: 'automated',
  hosts: [{ id: takeoverId, failback: { seed } }],
  target: { platform: 'aws', region: 'eu-west-1', ...target },
});

/** Everything in the local cloud: a check that a refused request created nothing. */
async function inventory() {
  const state = JSON.stringify(await fixture.compute.describeHosts());
  return { hosts: state, snapshots: (await fixture.store.list()).length };
}

describe('ValidateRequest with seeds (hosts[i].failback.seed)', () => {
  it('puts each seed on its takeover volume, in device order', async () => {
    const original = await originalHost([2 * MiB, MiB], false);

    const inventoryOut = await validateRequest(
      { runId: 'r1', request: request({ volumes: original.volumeIds.map((volumeId) => ({ volumeId })) }) },
      deps,
    );

    expect(inventoryOut.volumes.map((volume) => volume.seed)).toEqual([
      { volumeId: original.volumeIds[0], field: 'hosts[0].failback.seed.volumes[0].volumeId', powerOff: false },
      { volumeId: original.volumeIds[1], field: 'hosts[0].failback.seed.volumes[1].volumeId', powerOff: false },
    ]);
  });

  it('refuses a seed smaller than its takeover volume with SeedTooSmallError naming the field, creating nothing', async () => {
    const original = await originalHost([MiB, MiB], false);
    const before = await inventory();

    const refused = validateRequest(
      { runId: 'r1', request: request({ volumes: original.volumeIds.map((volumeId) => ({ volumeId })) }) },
      deps,
    );

    await expect(refused).rejects.toThrow(SeedTooSmallError);
    await expect(refused).rejects.toThrow(/hosts\[0\]\.failback\.seed\.volumes\[0\]\.volumeId/);
    expect(await inventory()).toEqual(before);
  });

  it('refuses a seed volume or snapshot that does not exist, naming the field', async () => {
    const original = await originalHost([2 * MiB], false);

    await expect(
      validateRequest(
        {
          runId: 'r1',
          request: request({ volumes: [{ volumeId: original.volumeIds[0] }, { volumeId: 'vol-0000000000000dead' }] }),
        },
        deps,
      ),
    ).rejects.toThrow(
      /hosts\[0\]\.failback\.seed\.volumes\[1\]\.volumeId: volume vol-0000000000000dead does not exist/,
    );
    await expect(
      validateRequest(
        {
          runId: 'r1',
          request: request({ volumes: [{ volumeId: original.volumeIds[0] }, { snapshotId: 'snap-00000000000dead' }] }),
        },
        deps,
      ),
    ).rejects.toThrow(
      /hosts\[0\]\.failback\.seed\.volumes\[1\]\.snapshotId: snapshot snap-00000000000dead does not exist/,
    );
  });

  it('refuses the same seed twice, a seed per volume missing, and a takeover volume as its own seed', async () => {
    const original = await originalHost([2 * MiB], false);
    const [takeover] = await fixture.compute.describeHosts({ hostIds: [takeoverId] });
    const seed = { volumeId: original.volumeIds[0] };

    await expect(validateRequest({ runId: 'r1', request: request({ volumes: [seed, seed] }) }, deps)).rejects.toThrow(
      /hosts\[0\]\.failback\.seed\.volumes\[1\]\.volumeId: .* is also the seed of hosts\[0\]\.failback\.seed\.volumes\[0\]/,
    );
    await expect(validateRequest({ runId: 'r1', request: request({ volumes: [seed] }) }, deps)).rejects.toThrow(
      /hosts\[0\]\.failback\.seed\.volumes: 1 seed\(s\) for the 2 volume\(s\)/,
    );
    await expect(
      validateRequest(
        { runId: 'r1', request: request({ volumes: [{ volumeId: takeover?.volumes[0]?.volumeId }, seed] }) },
        deps,
      ),
    ).rejects.toThrow(InvalidFailbackRequestError);
  });

  it('refuses a seed attached to a running instance unless target.powerOffSeed is set', async () => {
    const original = await originalHost([2 * MiB, MiB], true);
    const seed = { volumes: original.volumeIds.map((volumeId) => ({ volumeId })) };

    const refused = validateRequest({ runId: 'r1', request: request(seed) }, deps);
    const allowed = await validateRequest({ runId: 'r1', request: request(seed, { powerOffSeed: true }) }, deps);

    await expect(refused).rejects.toThrow(SeedInUseError);
    await expect(refused).rejects.toThrow(/target\.powerOffSeed/);
    expect(allowed.volumes.every((volume) => volume.seed?.powerOff === true)).toBe(true);
    expect(await hostState(fixture.compute, original.host.hostId)).toBe('running');
  });
});

describe('PrepareTarget with seeds', () => {
  async function seededVolumes(running: boolean, powerOffSeed: boolean) {
    const original = await originalHost([2 * MiB, MiB], running);
    const seed = { volumes: original.volumeIds.map((volumeId) => ({ volumeId })) };
    const validated = await validateRequest({ runId: 'r1', request: request(seed, { powerOffSeed }) }, deps);
    return { original, volumes: validated.volumes };
  }

  it('stops the seed’s instance, keeps each seed in a tagged snapshot, and makes it the target on the gateway', async () => {
    const { original, volumes } = await seededVolumes(true, true);

    const target = await prepareTarget({ runId: 'r1', volumes }, deps);

    expect(await hostState(fixture.compute, original.host.hostId)).toBe('stopped');
    expect(target.firstPass?.kind).toBe('seeded');
    const gatewayId = target.gateways?.[0]?.hostId ?? '';
    const arn = fixture.compute.instanceArn(gatewayId);
    for (const [i, volume] of target.volumes.entries()) {
      const seedVolumeId = original.volumeIds[i] ?? '';
      expect(volume.targetVolumeId).toBe(seedVolumeId);
      expect(volume.seed?.recordKey).toBe(`runs/r1/gateways/${arn}/volumes/${volume.volumeKey}/seed.json`);
      const [preserved] = await fixture.compute.findSnapshots({
        [PRESERVES_SEED_OF_TAG]: volumes[i]?.volumeId ?? '',
        [RUN_TAG]: 'r1',
        [SEED_VOLUME_TAG]: seedVolumeId,
      });
      expect(preserved?.snapshotId).toBe(volume.seed?.preservedAs);
      // The snapshot holds what the original disk held before the run.
      expect(await fixture.store.readBlock(preserved?.snapshotId ?? '', 1)).toEqual(original.content[i]);
    }
    const [gateway] = await fixture.compute.describeHosts({ hostIds: [gatewayId] });
    expect(gateway?.volumes.map((volume) => volume.volumeId).sort()).toEqual([...original.volumeIds].sort());
    const config = parseGatewayUserData(await gatewayUserData(gatewayId));
    expect(config.volumes.map((volume) => volume.seed)).toEqual(original.volumeIds.map((id) => ({ id })));
  });

  it('run twice finds what the first attempt did: one preservation snapshot per seed, the same result', async () => {
    const { volumes } = await seededVolumes(false, false);

    const first = await prepareTarget({ runId: 'r1', volumes }, deps);
    const second = await prepareTarget({ runId: 'r1', volumes }, deps);

    expect(second).toEqual(first);
    expect(await fixture.compute.findSnapshots({ [RUN_TAG]: 'r1' })).toHaveLength(2);
  });

  it('refuses at PrepareTarget a seed whose instance started after validation, without powerOffSeed', async () => {
    const { original, volumes } = await seededVolumes(false, false);
    await fixture.compute.startInstances([original.host.hostId]);

    await expect(prepareTarget({ runId: 'r1', volumes }, deps)).rejects.toThrow(SeedInUseError);
    expect(await fixture.store.list()).toHaveLength(0);
  });

  it('creates the target from a seed snapshot, which it tags as the preserved state', async () => {
    const original = await originalHost([2 * MiB, MiB], false);
    const snapshotIds = [];
    for (const volumeId of original.volumeIds) {
      snapshotIds.push(await fixture.compute.snapshotVolume({ volumeId, description: 'backup', tags: {} }));
    }
    const validated = await validateRequest(
      { runId: 'r1', request: request({ volumes: snapshotIds.map((snapshotId) => ({ snapshotId })) }) },
      deps,
    );

    const target = await prepareTarget({ runId: 'r1', volumes: validated.volumes }, deps);

    for (const [i, volume] of target.volumes.entries()) {
      expect(volume.targetVolumeId).not.toBe(original.volumeIds[i]);
      expect(volume.seed?.preservedAs).toBe(snapshotIds[i]);
      const path = volumePath(fixture.stateDir, volume.targetVolumeId);
      expect(await readVolume(path, BLOCK_SIZE, BLOCK_SIZE)).toEqual(original.content[i]);
    }
    expect(
      await fixture.compute.findSnapshots({ [PRESERVES_SEED_OF_TAG]: validated.volumes[0]?.volumeId ?? '' }),
    ).toEqual([expect.objectContaining({ snapshotId: snapshotIds[0] })]);
  });
});

describe('the seeded first pass and clean-up', () => {
  it('after a rollback leaves a seeded target as written, saying how to return to its preservation snapshot', async () => {
    const original = await originalHost([2 * MiB, MiB], false);
    const validated = await validateRequest(
      { runId: 'r1', request: request({ volumes: original.volumeIds.map((volumeId) => ({ volumeId })) }) },
      deps,
    );
    const target = await prepareTarget({ runId: 'r1', volumes: validated.volumes }, deps);

    const cleaned = await cleanUp(
      { runId: 'r1', target, volumes: validated.volumes, rollback: { reason: 'cutover rejected' } },
      deps,
    );

    expect(cleaned.kept?.map((kept) => kept.targetVolumeId)).toEqual(original.volumeIds);
    for (const [i, kept] of (cleaned.kept ?? []).entries()) {
      expect(kept.snapshotId).toBeUndefined();
      expect(kept.reason).toContain(`its state before the run is snapshot ${target.volumes[i]?.seed?.preservedAs}`);
    }
    const volumes = await fixture.compute.describeVolumes(original.volumeIds);
    expect(volumes.every((volume) => volume.tags['homebound:kept-for'] === undefined)).toBe(true);
    expect((await fixture.store.list()).map((snapshot) => snapshot.snapshotId).sort()).toEqual(
      target.volumes.map((volume) => volume.seed?.preservedAs).sort(),
    );
  });

  it('SnapshotVolumes gives only the first pass’s snapshots their seed record; CleanUp keeps the preservation snapshots', async () => {
    const original = await originalHost([2 * MiB, MiB], false);
    const validated = await validateRequest(
      { runId: 'r1', request: request({ volumes: original.volumeIds.map((volumeId) => ({ volumeId })) }) },
      deps,
    );
    const target = await prepareTarget({ runId: 'r1', volumes: validated.volumes }, deps);
    const input = {
      runId: 'r1',
      takeoverHostIds: [takeoverId],
      volumes: validated.volumes,
      previous: { number: 0, final: false, snapshots: [] },
      final: false,
      target,
    };

    const first = await snapshotVolumes(input, deps);
    const second = await snapshotVolumes({ ...input, previous: first }, deps);
    const cleaned = await cleanUp({ runId: 'r1', target, pass: second, volumes: validated.volumes }, deps);

    expect(first.kind).toBe('full');
    expect(first.snapshots.map((snapshot) => snapshot.seed?.recordKey)).toEqual(
      target.volumes.map((volume) => volume.seed?.recordKey),
    );
    expect(second.snapshots.every((snapshot) => snapshot.seed === undefined)).toBe(true);
    const preserved = target.volumes.map((volume) => volume.seed?.preservedAs ?? '');
    expect(cleaned.snapshotsDeleted).toBeGreaterThan(0);
    expect((await fixture.store.list()).map((snapshot) => snapshot.snapshotId).sort()).toEqual(preserved.sort());
    // The seed volumes are the original disks: never deleted.
    expect(await fixture.compute.describeVolumes(original.volumeIds)).toHaveLength(2);
  });
});
