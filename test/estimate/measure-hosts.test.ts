import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { LocalCompute } from '../../core/compute/local-compute.js';
import { measureHosts, planFromMeasurement, TooFewSnapshotsError } from '../../core/estimate/measure-hosts.js';
import { changedBlocks, volumeLoads } from '../../core/estimate/plan.js';
import { writeVolumeBlocks } from '../../core/localcloud/local-volume.js';
import { LocalSnapshotHistory } from '../../core/localcloud/snapshot-history.js';
import { startTestCloud, type TestCloud } from '../support/local-cloud.js';

const MiB = 1024 * 1024;

describe('estimate --from-hosts: measuring takeover hosts through the compute port and the EBS direct APIs', () => {
  let test: TestCloud;
  let compute: LocalCompute;
  beforeAll(async () => {
    test = await startTestCloud();
    compute = new LocalCompute({ stateDir: join(test.dir, 'compute'), store: test.cloud.store });
  });
  afterAll(() => test.stop());

  const deps = () => ({
    compute,
    snapshots: new LocalSnapshotHistory(test.cloud.store),
    blockSource: test.source,
  });

  it('counts blocks in use on the latest snapshot and blocks changed since the one before, over the time between', async () => {
    let path = '';
    const host = await compute.createTakeoverHost({
      name: 'db',
      volumes: [{ sizeBytes: 16 * MiB }],
      writesPerSecond: 0,
      fill: async (volumePath) => {
        path = volumePath;
        await writeVolumeBlocks(path, 0, Buffer.alloc(10 * BLOCK_SIZE, 1));
      },
    });
    await compute.createSnapshots(host.hostId, {});
    // Blocks 8–9 rewritten and 20–22 written for the first time: 5 changed, 13 in use.
    await writeVolumeBlocks(path, 8, Buffer.alloc(2 * BLOCK_SIZE, 2));
    await writeVolumeBlocks(path, 20, Buffer.alloc(3 * BLOCK_SIZE, 3));
    await compute.createSnapshots(host.hostId, {});
    await new Promise((resolve) => setTimeout(resolve, 300));
    await writeVolumeBlocks(path, 30, Buffer.alloc(BLOCK_SIZE, 4));
    const [latest] = await compute.createSnapshots(host.hostId, {});

    const [measured] = await measureHosts([host.hostId], deps());

    // The two latest snapshots: block 30 changed between them, 14 blocks in use.
    expect(measured).toMatchObject({
      hostId: host.hostId,
      volumeId: host.volumes[0]?.volumeId,
      sizeBytes: 16 * MiB,
      usedBlocks: 14,
      changedBlocks: 1,
      latestSnapshotId: latest?.snapshotId,
    });
    expect(measured?.intervalSeconds).toBeGreaterThanOrEqual(0.3);

    // The plan it makes writes as many distinct blocks in that interval as were measured.
    if (!measured) throw new Error('nothing measured');
    const plan = planFromMeasurement([measured], { thresholdMiB: 64, maxPasses: 10 });
    const [load] = volumeLoads(plan);
    if (!load) throw new Error('no volume in the plan');
    expect(load.usedBlocks).toBe(14);
    expect(changedBlocks(load, measured.intervalSeconds)).toBeCloseTo(1, 6);
  });

  it('refuses a volume with fewer than two completed snapshots, naming it', async () => {
    const host = await compute.createTakeoverHost({
      name: 'app',
      volumes: [{ sizeBytes: 4 * MiB }],
      writesPerSecond: 0,
    });
    await compute.createSnapshots(host.hostId, {});
    await expect(measureHosts([host.hostId], deps())).rejects.toThrow(
      new TooFewSnapshotsError(
        `volume ${host.volumes[0]?.volumeId} of ${host.hostId} has 1 completed snapshot(s); measuring its writes takes two`,
      ),
    );
  });
});
