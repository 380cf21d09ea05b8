import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { volumePath } from '../../core/compute/local-state.js';
import { InvalidInputError } from '../../core/errors.js';
import { imageSha256 } from '../../core/image-digest.js';
import { type ComputeFixture, computeFixture, hostState, MiB, waitUntil } from './local-compute-helpers.js';

let fixture: ComputeFixture;

beforeEach(async () => {
  fixture = await computeFixture();
});

afterEach(async () => {
  await fixture.cleanup();
});

async function volumeHashes(volumeIds: readonly string[]): Promise<string[]> {
  return Promise.all(volumeIds.map((volumeId) => imageSha256(volumePath(fixture.stateDir, volumeId))));
}

describe('local takeover workload', () => {
  it('changes the volumes while the host runs and not once it reports stopped', async () => {
    const { compute } = fixture;
    const host = await compute.createTakeoverHost({
      name: 'db',
      volumes: [{ sizeBytes: 4 * MiB }, { sizeBytes: 3 * MiB }],
      writesPerSecond: 400,
      seed: 7,
    });
    const volumeIds = host.volumes.map((volume) => volume.volumeId);
    const blank = await volumeHashes(volumeIds);
    const workload = compute.workloadOf(host.hostId);

    await waitUntil(() => new Set(workload?.writes.filter((w) => !w.zero).map((w) => w.volumeId)).size === 2);
    const whileRunning = await volumeHashes(volumeIds);
    await compute.stopInstances([host.hostId]);
    await waitUntil(async () => (await hostState(compute, host.hostId)) === 'stopped');
    const writesAtStop = workload?.writes.length;
    const atStop = await volumeHashes(volumeIds);
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(host.state).toBe('running');
    expect(whileRunning[0]).not.toBe(blank[0]);
    expect(whileRunning[1]).not.toBe(blank[1]);
    expect(await volumeHashes(volumeIds)).toEqual(atStop);
    expect(workload?.writes.length).toBe(writesAtStop);
  });

  it('writes again after the host is started', async () => {
    const { compute } = fixture;
    const host = await compute.createTakeoverHost({
      name: 'app',
      volumes: [{ sizeBytes: 2 * MiB }],
      writesPerSecond: 400,
    });
    await compute.stopInstances([host.hostId]);
    await waitUntil(async () => (await hostState(compute, host.hostId)) === 'stopped');
    const writesWhileStopped = compute.workloadOf(host.hostId)?.writes.length ?? 0;

    await compute.startInstances([host.hostId]);
    await waitUntil(() => (compute.workloadOf(host.hostId)?.writes.length ?? 0) > writesWhileStopped + 3);

    expect(await hostState(compute, host.hostId)).toBe('running');
  });

  it('writes nothing on an idle host (0 writes/s) and stops at once', async () => {
    const { compute } = fixture;
    const host = await compute.createTakeoverHost({
      name: 'idle',
      volumes: [{ sizeBytes: 2 * MiB }],
      writesPerSecond: 0,
    });
    const volumeIds = host.volumes.map((volume) => volume.volumeId);
    const blank = await volumeHashes(volumeIds);

    await new Promise((resolve) => setTimeout(resolve, 150));
    await compute.stopInstances([host.hostId]);
    await waitUntil(async () => (await hostState(compute, host.hostId)) === 'stopped');

    expect(compute.workloadOf(host.hostId)?.writes).toEqual([]);
    expect(await volumeHashes(volumeIds)).toEqual(blank);
  });

  it('refuses a negative write rate before it creates anything', async () => {
    const { compute } = fixture;

    const refused = await compute
      .createTakeoverHost({ name: 'bad', volumes: [{ sizeBytes: MiB }], writesPerSecond: -1 })
      .catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(InvalidInputError);
    expect(String(refused)).toMatch(/writesPerSecond/);
    expect(await compute.describeHosts({})).toEqual([]);
  });
});
