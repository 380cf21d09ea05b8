import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadState } from '../../core/compute/local-state.js';
import type { FailbackDeps } from '../../core/failback/run-state.js';
import { retireTakeoverHosts } from '../../core/failback/steps/cutover.js';
import { launchFailbackHosts } from '../../core/failback/steps/hosts.js';
import { type ComputeFixture, computeFixture, MiB } from '../compute/local-compute-helpers.js';
import { stepDeps } from '../support/step-deps.js';

let fixture: ComputeFixture;
let deps: FailbackDeps;

beforeEach(async () => {
  fixture = await computeFixture();
  deps = stepDeps(fixture.compute);
});
afterEach(async () => {
  await fixture.cleanup();
});

/** A takeover host, its failback host and a target volume attached to it, as Cutover leaves them. */
async function cutOver() {
  const { compute } = fixture;
  const takeover = await compute.createTakeoverHost({ name: 'db', volumes: [{ sizeBytes: MiB }], writesPerSecond: 0 });
  const failback = await launchFailbackHosts({ runId: 'r1', hosts: [{ hostId: takeover.hostId, name: 'db' }] }, deps);
  const target = await compute.createVolume({ sizeBytes: MiB, tags: { 'homebound:run': 'r1' } });
  await compute.attachVolume(target, failback.hostIds[0] ?? '', '/dev/xvda');
  return { takeover, failback, target };
}

describe('handing production over (RetireTakeoverHosts)', () => {
  it('marks the failback hosts and the volumes they run on homebound:state=live, and not the takeover hosts', async () => {
    const { takeover, failback, target } = await cutOver();

    const result = await retireTakeoverHosts({ runId: 'r1', failback }, deps);

    const hosts = await fixture.compute.describeHosts({ hostIds: [...failback.hostIds, takeover.hostId] });
    const volumes = (await loadState(fixture.stateDir)).volumes;
    expect(hosts.map((host) => [host.role, host.tags['homebound:state']])).toEqual([
      ['takeover', undefined],
      ['failback', 'live'],
    ]);
    expect(volumes[target]?.tags['homebound:state']).toBe('live');
    expect(volumes[takeover.volumes[0]?.volumeId ?? '']?.tags['homebound:state']).toBeUndefined();
    expect(result.live).toEqual([...failback.hostIds, target]);
  });

  it('marks again harmlessly when retried (IAM allows re-asserting live, nothing else)', async () => {
    const { failback } = await cutOver();

    const first = await retireTakeoverHosts({ runId: 'r1', failback }, deps);
    const second = await retireTakeoverHosts({ runId: 'r1', failback }, deps);

    expect(second).toEqual(first);
  });
});
