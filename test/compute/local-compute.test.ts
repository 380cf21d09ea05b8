import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  HostNotFoundError,
  HostStateError,
  VolumeInUseError,
  VolumeNotAttachedError,
} from '../../core/compute/errors.js';
import { LocalCompute, WORKLOAD_WRITES_TAG } from '../../core/compute/local-compute.js';
import { loadState } from '../../core/compute/local-state.js';
import { idempotencyToken } from '../../core/compute/port.js';
import {
  InvalidInputError,
  RequestRejectedError,
  SnapshotNotFoundError,
  VolumeNotFoundError,
} from '../../core/errors.js';
import { type ComputeFixture, computeFixture, hostState, MiB, waitUntil } from './local-compute-helpers.js';

let fixture: ComputeFixture;

beforeEach(async () => {
  fixture = await computeFixture();
});

afterEach(async () => {
  await fixture.cleanup();
});

describe('LocalCompute snapshots', () => {
  it('snapshots every volume of a running host, and the next pass is a child holding exactly the new writes', async () => {
    const { compute, store } = fixture;
    const host = await compute.createTakeoverHost({
      name: 'db',
      volumes: [{ sizeBytes: 4 * MiB }, { sizeBytes: 5 * MiB }],
      writesPerSecond: 500,
      seed: 3,
    });
    const workload = compute.workloadOf(host.hostId);
    await waitUntil(() => (workload?.writes.length ?? 0) >= 10);

    const first = await compute.createSnapshots(host.hostId, { pass: '1' });
    const firstWrites = workload?.writes.length ?? 0;
    await waitUntil(() => (workload?.writes.length ?? 0) >= firstWrites + 15);
    const second = await compute.createSnapshots(host.hostId, { pass: '2' });

    expect(first.map((s) => s.volumeId)).toEqual(host.volumes.map((v) => v.volumeId));
    const progress = await compute.describeSnapshots([...first, ...second].map((s) => s.snapshotId));
    expect(progress.every((p) => p.state === 'completed' && p.progress === 100)).toBe(true);
    for (const [i, volume] of host.volumes.entries()) {
      const parent = first[i];
      const child = second[i];
      if (!parent || !child) throw new Error('one snapshot per volume expected');
      const parentInfo = await store.get(parent.snapshotId);
      const childInfo = await store.get(child.snapshotId);
      expect(childInfo.parentSnapshotId).toBe(parent.snapshotId);
      expect(childInfo.tags).toMatchObject({ pass: '2' });
      // The writes the workload completed between the two pauses, on this volume.
      const from = Number(parentInfo.tags[WORKLOAD_WRITES_TAG]);
      const to = Number(childInfo.tags[WORKLOAD_WRITES_TAG]);
      const written = new Set(
        workload?.writes
          .slice(from, to)
          .filter((w) => w.volumeId === volume.volumeId)
          .map((w) => w.blockIndex),
      );
      const changed = (await store.changedBlocks(parent.snapshotId, child.snapshotId, 0, 10_000)).map((e) => e.index);
      expect(changed.length).toBeGreaterThan(0);
      expect(changed.every((index) => written.has(index))).toBe(true);
      // A written block is missing from the diff only when it was rewritten with the very same bytes (zeros again).
      for (const index of written) {
        if (changed.includes(index)) continue;
        const before = await store.blockSha256(parent.snapshotId, index);
        expect(before).toEqual(await store.blockSha256(child.snapshotId, index));
      }
    }
  });

  it('is crash-consistent: each snapshot holds exactly the writes completed before one instant, on every volume', async () => {
    const { compute, store } = fixture;
    const host = await compute.createTakeoverHost({
      name: 'db',
      volumes: [{ sizeBytes: 16 * MiB }, { sizeBytes: 16 * MiB }, { sizeBytes: 16 * MiB }],
      writesPerSecond: 1000,
      seed: 11,
    });
    const workload = compute.workloadOf(host.hostId);
    await waitUntil(() => (workload?.writes.length ?? 0) >= 20);

    const snapshots = await compute.createSnapshots(host.hostId, {});
    await waitUntil(() => (workload?.writes.length ?? 0) >= 40);

    for (const { volumeId, snapshotId } of snapshots) {
      const count = Number((await store.get(snapshotId)).tags[WORKLOAD_WRITES_TAG]);
      const expected = new Map<number, string>();
      for (const write of workload?.writes.slice(0, count) ?? []) {
        if (write.volumeId === volumeId) expected.set(write.blockIndex, write.sha256);
      }
      const held = new Map<number, string | undefined>();
      for (const index of await store.listBlocks(snapshotId, 0, 10_000)) {
        held.set(index, (await store.blockSha256(snapshotId, index))?.toString('hex'));
      }
      expect(held).toEqual(expected);
    }
  });

  it('starts a new lineage when the previous snapshot was deleted, and deleting twice is harmless', async () => {
    const { compute, store } = fixture;
    const host = await compute.createTakeoverHost({ name: 'db', volumes: [{ sizeBytes: MiB }], writesPerSecond: 200 });
    const [first] = await compute.createSnapshots(host.hostId, {});
    if (!first) throw new Error('expected a snapshot');

    await compute.deleteSnapshots([first.snapshotId]);
    await compute.deleteSnapshots([first.snapshotId]);
    const [second] = await compute.createSnapshots(host.hostId, {});

    expect(second && (await store.get(second.snapshotId)).parentSnapshotId).toBeUndefined();
    await expect(compute.describeSnapshots([first.snapshotId])).rejects.toBeInstanceOf(SnapshotNotFoundError);
  });

  it('keeps the lineage when the latest snapshot was deleted but an older one is kept (a rolled-back run keeps one)', async () => {
    const { compute, store } = fixture;
    const host = await compute.createTakeoverHost({
      name: 'kept',
      volumes: [{ sizeBytes: MiB }],
      writesPerSecond: 200,
    });
    const [kept] = await compute.createSnapshots(host.hostId, {});
    const [dropped] = await compute.createSnapshots(host.hostId, {});
    if (!kept || !dropped) throw new Error('expected snapshots');

    await compute.deleteSnapshots([dropped.snapshotId]);
    const [next] = await compute.createSnapshots(host.hostId, {});
    if (!next) throw new Error('expected a snapshot');

    expect((await store.get(next.snapshotId)).parentSnapshotId).toBe(kept.snapshotId);
    // Comparable, as an incremental pass from the kept snapshot needs.
    await expect(store.changedBlocks(kept.snapshotId, next.snapshotId, 0, 1000)).resolves.toBeInstanceOf(Array);
  });
});

describe('LocalCompute volumes and hosts', () => {
  it('attaches a volume to at most one host and refuses to delete it while attached', async () => {
    const { compute } = fixture;
    const volumeId = await compute.createVolume({ sizeBytes: 2 * MiB, tags: { run: 'r1' } });
    const gateway = await compute.runInstance({ role: 'gateway', name: 'gw' });
    const failback = await compute.runInstance({ role: 'failback', name: 'fb' });

    await compute.attachVolume(volumeId, gateway, '/dev/sdf');
    const inUse = await compute.attachVolume(volumeId, failback, '/dev/sdf').catch((e: unknown) => e);
    await expect(compute.deleteVolume(volumeId)).rejects.toBeInstanceOf(VolumeInUseError);
    const [gatewayHost] = await compute.describeHosts({ hostIds: [gateway] });
    await compute.detachVolume(volumeId);
    await expect(compute.detachVolume(volumeId)).rejects.toBeInstanceOf(VolumeNotAttachedError);
    await compute.attachVolume(volumeId, failback, '/dev/xvda');
    const [failbackHost] = await compute.describeHosts({ hostIds: [failback] });

    expect(inUse).toBeInstanceOf(VolumeInUseError);
    expect(inUse).toMatchObject({ volumeId, hostId: gateway });
    expect(gatewayHost).toMatchObject({ role: 'gateway', state: 'running' });
    expect(gatewayHost?.volumes).toEqual([{ volumeId, device: '/dev/sdf', sizeBytes: 2 * MiB }]);
    expect(failbackHost?.volumes.map((v) => v.volumeId)).toEqual([volumeId]);
  });

  it('refuses a second volume on a taken device and attaching to a terminated host', async () => {
    const { compute } = fixture;
    const [a, b] = [await compute.createVolume({ sizeBytes: MiB }), await compute.createVolume({ sizeBytes: MiB })];
    const hostId = await compute.runInstance({ role: 'gateway', name: 'gw' });
    await compute.attachVolume(a, hostId, '/dev/sdf');

    await expect(compute.attachVolume(b, hostId, '/dev/sdf')).rejects.toBeInstanceOf(InvalidInputError);
    await compute.terminateInstances([hostId]);
    await waitUntil(async () => (await hostState(compute, hostId)) === 'terminated');

    await expect(compute.attachVolume(b, hostId, '/dev/sdg')).rejects.toBeInstanceOf(HostStateError);
    await expect(compute.startInstances([hostId])).rejects.toBeInstanceOf(HostStateError);
    const [terminated] = await compute.describeHosts({ hostIds: [hostId] });
    expect(terminated?.volumes).toEqual([]);
    await compute.deleteVolume(a);
  });

  it('names unknown hosts, volumes and snapshots', async () => {
    const { compute } = fixture;
    const hostId = 'i-0123456789abcdef0';

    const hostError = await compute.describeHosts({ hostIds: [hostId] }).catch((e: unknown) => e);
    const volumeError = await compute.deleteVolume('vol-00000000000000000').catch((e: unknown) => e);

    expect(hostError).toBeInstanceOf(HostNotFoundError);
    expect(hostError).toMatchObject({ hostId });
    expect(volumeError).toBeInstanceOf(VolumeNotFoundError);
    expect(volumeError).toMatchObject({ volume: 'vol-00000000000000000' });
    await expect(compute.stopInstances([hostId])).rejects.toBeInstanceOf(HostNotFoundError);
    await expect(compute.createSnapshots(hostId, {})).rejects.toBeInstanceOf(HostNotFoundError);
    await expect(compute.attachVolume('vol-00000000000000000', hostId, '/dev/sdf')).rejects.toBeInstanceOf(
      VolumeNotFoundError,
    );
    await expect(compute.createTags(['snap-00000000000000000'], { a: 'b' })).rejects.toBeInstanceOf(
      SnapshotNotFoundError,
    );
  });

  it('persists hosts, volumes and tags for a new LocalCompute on the same state dir', async () => {
    const { compute, stateDir, store } = fixture;
    const host = await compute.createTakeoverHost({
      name: 'db',
      volumes: [{ sizeBytes: MiB }],
      writesPerSecond: 100,
      tags: { run: 'r1' },
    });
    const gateway = await compute.runInstance({ role: 'gateway', name: 'gw', tags: { run: 'r1' } });
    await compute.createTags([gateway], { stage: 'full-pass' });
    await compute.stopInstances([host.hostId]);
    await waitUntil(async () => (await hostState(compute, host.hostId)) === 'stopped');

    const reopened = new LocalCompute({ stateDir, store });
    const hosts = await reopened.describeHosts({ tag: { key: 'run', value: 'r1' } });

    expect(host.hostId).toMatch(/^i-[0-9a-f]{17}$/);
    expect(host.volumes[0]?.volumeId).toMatch(/^vol-[0-9a-f]{17}$/);
    expect(hosts.map((h) => [h.hostId, h.role, h.state])).toEqual([
      [host.hostId, 'takeover', 'stopped'],
      [gateway, 'gateway', 'running'],
    ]);
    expect(hosts[0]?.volumes).toEqual(host.volumes);
    expect(hosts[1]?.tags).toMatchObject({ Name: 'gw', run: 'r1', stage: 'full-pass' });
    await reopened.close();
  });
});

describe('LocalCompute deployment tags', () => {
  it('tags what homebound creates with resourceTags, as AwsCompute does, but not takeover hosts', async () => {
    const { stateDir, store } = fixture;
    const compute = new LocalCompute({ stateDir, store, resourceTags: { 'homebound:stack': 'homebound-local' } });
    const takeover = await compute.createTakeoverHost({
      name: 'db',
      volumes: [{ sizeBytes: MiB }],
      writesPerSecond: 0,
    });
    const gateway = await compute.runInstance({ role: 'gateway', name: 'gw', tags: { 'homebound:stack': 'other' } });
    const target = await compute.createVolume({ sizeBytes: MiB, tags: { run: 'r1' } });
    const [snapshot] = await compute.createSnapshots(takeover.hostId, { run: 'r1' });

    const [gatewayHost] = await compute.describeHosts({ hostIds: [gateway] });
    const volumes = (await loadState(stateDir)).volumes;
    expect(gatewayHost?.tags['homebound:stack']).toBe('homebound-local');
    expect(volumes[target]?.tags).toEqual({ run: 'r1', 'homebound:stack': 'homebound-local' });
    expect((await store.get(snapshot?.snapshotId ?? '')).tags).toMatchObject({ 'homebound:stack': 'homebound-local' });
    expect(takeover.tags['homebound:stack']).toBeUndefined();
    expect(volumes[takeover.volumes[0]?.volumeId ?? '']?.tags).toEqual({});
    await compute.close();
  });
});

describe('LocalCompute retries (idempotency, as EC2 answers them)', () => {
  it('returns the volume and host an earlier call with the same ClientToken created, and refuses a changed request', async () => {
    const { compute } = fixture;
    const volumeRequest = {
      sizeBytes: 2 * MiB,
      tags: { run: 'r1' },
      clientToken: idempotencyToken('r1', 'target', 'a'),
    };
    const hostRequest = { role: 'gateway' as const, name: 'gw', tags: { run: 'r1' }, clientToken: 'hb-gw-r1' };

    const volumes = [await compute.createVolume(volumeRequest), await compute.createVolume(volumeRequest)];
    const hosts = [await compute.runInstance(hostRequest), await compute.runInstance(hostRequest)];
    const resized = await compute.createVolume({ ...volumeRequest, sizeBytes: 4 * MiB }).catch((e: unknown) => e);
    const other = await compute.createVolume({ ...volumeRequest, clientToken: idempotencyToken('r1', 'target', 'b') });

    expect(volumes[1]).toBe(volumes[0]);
    expect(hosts[1]).toBe(hosts[0]);
    expect(other).not.toBe(volumes[0]);
    expect(resized).toBeInstanceOf(RequestRejectedError);
    expect(String(resized)).toMatch(/IdempotentParameterMismatch/);
    expect(await compute.describeHosts({ tag: { key: 'run', value: 'r1' } })).toHaveLength(1);
  });

  it('treats attaching a volume where it already is as done, and finds snapshots by their tags', async () => {
    const { compute } = fixture;
    const host = await compute.createTakeoverHost({ name: 'app', volumes: [{ sizeBytes: MiB }], writesPerSecond: 0 });
    const volumeId = await compute.createVolume({ sizeBytes: MiB });
    const gateway = await compute.runInstance({ role: 'gateway', name: 'gw' });
    await compute.attachVolume(volumeId, gateway, '/dev/sdf');

    await compute.attachVolume(volumeId, gateway, '/dev/sdf');
    const elsewhere = await compute.attachVolume(volumeId, gateway, '/dev/sdg').catch((e: unknown) => e);
    const [first] = await compute.createSnapshots(host.hostId, { run: 'r1', pass: '1' });
    await compute.createSnapshots(host.hostId, { run: 'r1', pass: '2' });

    expect(elsewhere).toBeInstanceOf(VolumeInUseError);
    expect(await compute.findSnapshots({ run: 'r1', pass: '1' })).toEqual([first]);
    expect(await compute.findSnapshots({ run: 'r1' })).toHaveLength(2);
    expect(await compute.findSnapshots({ run: 'r2' })).toEqual([]);
  });

  it('makes ClientTokens of at most 64 ASCII characters, the same for the same parts', () => {
    const token = idempotencyToken('run-2026-11-23T10:00:00Z', 'target', 'vol-0123456789abcdef0');

    expect(token).toMatch(/^[\x21-\x7e]{1,64}$/);
    expect(idempotencyToken('run-2026-11-23T10:00:00Z', 'target', 'vol-0123456789abcdef0')).toBe(token);
    expect(idempotencyToken('run-2026-11-23T10:00:00Z', 'targetvol-0123456789abcdef0')).not.toBe(token);
  });
});
