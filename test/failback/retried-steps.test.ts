import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FailbackDeps } from '../../core/failback/run-state.js';
import { RUN_TAG } from '../../core/failback/run-state.js';
import { cleanUp } from '../../core/failback/steps/clean-up.js';
import { launchFailbackHosts } from '../../core/failback/steps/hosts.js';
import { prepareTarget } from '../../core/failback/steps/prepare-target.js';
import { snapshotVolumes } from '../../core/failback/steps/snapshots.js';
import { type ComputeFixture, computeFixture, MiB } from '../compute/local-compute-helpers.js';
import { stepDeps } from '../support/step-deps.js';

/**
 * The state machine retries a Task whose Lambda timed out or failed after EC2 had already acted (Retry on
 * Lambda.* and TransientError). Each step that creates something must then find what its first attempt created.
 */
let fixture: ComputeFixture;
let deps: FailbackDeps;

beforeEach(async () => {
  fixture = await computeFixture();
  deps = stepDeps(fixture.compute);
});
afterEach(async () => {
  await fixture.cleanup();
});

async function takeoverHost() {
  const host = await fixture.compute.createTakeoverHost({
    name: 'app',
    volumes: [{ sizeBytes: 2 * MiB }, { sizeBytes: MiB }],
    writesPerSecond: 0,
  });
  const volumes = host.volumes.map((volume, i) => ({
    hostId: host.hostId,
    volumeId: volume.volumeId,
    device: volume.device,
    sizeBytes: volume.sizeBytes,
    volumeKey: `v${i}`,
  }));
  return { host, volumes };
}

describe('steps retried after their first attempt acted', () => {
  it('PrepareTarget run twice makes one gateway and one target volume per takeover volume', async () => {
    const { volumes } = await takeoverHost();

    const first = await prepareTarget({ runId: 'r1', volumes }, deps);
    const second = await prepareTarget({ runId: 'r1', volumes }, deps);

    expect(second).toEqual(first);
    const runHosts = await fixture.compute.describeHosts({ tag: { key: RUN_TAG, value: 'r1' } });
    expect(runHosts.map((host) => host.hostId)).toEqual(first.gateways?.map((gateway) => gateway.hostId));
    // One gateway: also named the way executions started on the older definition read it.
    expect(first.gatewayHostId).toBe(runHosts[0]?.hostId);
    expect(runHosts[0]?.volumes.map((volume) => volume.volumeId).sort()).toEqual(
      first.volumes.map((volume) => volume.targetVolumeId).sort(),
    );
  });

  it('PrepareTarget run twice with a volume per gateway finds each gateway by its index, each holding its volume', async () => {
    const { volumes } = await takeoverHost();

    const first = await prepareTarget({ runId: 'r1', volumes, volumesPerGateway: 1 }, deps);
    const second = await prepareTarget({ runId: 'r1', volumes, volumesPerGateway: 1 }, deps);

    expect(second).toEqual(first);
    expect(first.gateways).toHaveLength(2);
    expect(first.gatewayHostId).toBeUndefined();
    const runHosts = await fixture.compute.describeHosts({ tag: { key: RUN_TAG, value: 'r1' } });
    expect(runHosts.map((host) => host.hostId).sort()).toEqual(first.gateways?.map((gateway) => gateway.hostId).sort());
    for (const volume of first.volumes) {
      const gateway = runHosts.find((host) => host.hostId === volume.gatewayHostId);
      expect(gateway?.volumes).toEqual([
        expect.objectContaining({ volumeId: volume.targetVolumeId, device: '/dev/sdf' }),
      ]);
    }
  });

  it('SnapshotVolumes run twice for one pass reuses the snapshot set the first run took', async () => {
    const { host, volumes } = await takeoverHost();
    const input = {
      runId: 'r1',
      takeoverHostIds: [host.hostId],
      volumes,
      previous: { number: 0, final: false, snapshots: [] },
      final: false,
    };

    const first = await snapshotVolumes(input, deps);
    const second = await snapshotVolumes(input, deps);
    const next = await snapshotVolumes({ ...input, previous: second }, deps);

    expect(second.snapshots).toEqual(first.snapshots);
    expect(await fixture.store.list()).toHaveLength(4); // two volumes × passes 1 and 2
    expect(next.snapshots.map((s) => s.baseSnapshotId)).toEqual(first.snapshots.map((s) => s.snapshotId));
  });

  it('LaunchFailbackHosts run twice launches one failback host per takeover host, even when EC2 does not list it yet', async () => {
    const { host } = await takeoverHost();
    const input = { runId: 'r1', hosts: [{ hostId: host.hostId, name: 'app' }] };
    // EC2 is eventually consistent: a retry's DescribeInstances may not show a host launched a moment ago, so the
    // step's own look-up finds nothing and only the ClientToken keeps the launch single.
    const compute = fixture.compute;
    const notYetListed = Object.assign(Object.create(compute), {
      describeHosts: async (filter?: Parameters<typeof compute.describeHosts>[0]) =>
        filter?.tag ? [] : compute.describeHosts(filter),
    }) as typeof compute;

    const first = await launchFailbackHosts(input, deps);
    const second = await launchFailbackHosts(input, { ...deps, compute: notYetListed });

    expect(second).toEqual(first);
    const launched = await fixture.compute.describeHosts({ tag: { key: RUN_TAG, value: 'r1' } });
    expect(launched.map((h) => h.hostId)).toEqual(first.hostIds);
  });
});

describe('clean-up after retries', () => {
  it('deletes every snapshot tagged with the run, also one a retry left outside the pass state', async () => {
    const { host, volumes } = await takeoverHost();
    const pass = await snapshotVolumes(
      {
        runId: 'r1',
        takeoverHostIds: [host.hostId],
        volumes,
        previous: { number: 0, final: false, snapshots: [] },
        final: false,
      },
      deps,
    );
    const stray = await fixture.compute.createSnapshots(host.hostId, { [RUN_TAG]: 'r1', 'homebound:pass': '2' });
    const otherRun = await fixture.compute.createSnapshots(host.hostId, { [RUN_TAG]: 'r2' });

    const result = await cleanUp({ runId: 'r1', pass }, deps);

    expect(result.snapshotsDeleted).toBe(pass.snapshots.length + stray.length);
    expect((await fixture.store.list()).map((s) => s.snapshotId).sort()).toEqual(
      otherRun.map((s) => s.snapshotId).sort(),
    );
  });
});
