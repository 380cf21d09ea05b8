import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidFailbackRequestError } from '../../core/failback/errors.js';
import { VsphereFailbackSettings } from '../../core/failback/host-settings.js';
import { parseFailbackRequest } from '../../core/failback/request.js';
import { resolveVsphereHosts } from '../../core/failback/resolve-hosts.js';
import { snapshotVolumes } from '../../core/failback/steps/snapshots.js';
import { type ComputeFixture, computeFixture, MiB } from '../compute/local-compute-helpers.js';
import { stepDeps } from '../support/step-deps.js';

const DOC = readFileSync(new URL('../../docs/failback-request.md', import.meta.url), 'utf8');

/** The docs' seeded example: the one ```jsonc block under "Seeded failback on vSphere". */
function seededExample(): unknown {
  const section = DOC.slice(DOC.indexOf('### Seeded failback on vSphere'));
  const block = /```jsonc\n([\s\S]*?)```/.exec(section)?.[1];
  return JSON.parse(block ?? '');
}

const request = (hosts: unknown[], target: Record<string, unknown> = {}) => ({
  method: 'conditional-automated',
  hosts,
  target: { platform: 'vsphere', ...target },
});

describe('conditional-automated request: hosts[].failback.seed and target.powerOffSeed', () => {
  it('accepts the docs example: the seed VM by folder path, powerOffSeed set', () => {
    const parsed = parseFailbackRequest(seededExample());
    expect(parsed).toMatchObject({
      hosts: [{ failback: { seed: { vm: 'prod/db-1' } } }],
      target: { platform: 'vsphere', powerOffSeed: true },
    });
  });

  it('defaults powerOffSeed to false and refuses a seed VM given with fields of a VM homebound makes, naming the field', () => {
    const parsed = parseFailbackRequest(request([{ id: 'i-1', failback: { seed: { vm: 'db-1' } } }]));
    expect(parsed.target).toMatchObject({ powerOffSeed: false });

    const withName = () =>
      parseFailbackRequest(request([{ id: 'i-1', failback: { seed: { vm: 'db-1' }, vmName: 'other' } }]));
    expect(withName).toThrow(InvalidFailbackRequestError);
    expect(withName).toThrow(/hosts\[0\]\.failback\.vmName: the seed VM \(db-1\) is the failback VM/);
    expect(() => parseFailbackRequest(request([{ id: 'i-1', failback: { seed: { vm: '' } } }]))).toThrow(
      /hosts\[0\]\.failback\.seed\.vm/,
    );
    expect(() => parseFailbackRequest(request([{ id: 'i-1', failback: { seed: { vm: 'a', disks: 2 } } }]))).toThrow(
      /hosts\[0\]\.failback\.seed/,
    );
    expect(() => parseFailbackRequest(request(['i-1'], { powerOffSeed: 'yes' }))).toThrow(/target\.powerOffSeed/);
  });

  it('hands each host its seed with the request-wide powerOffSeed, and refuses one seed for two hosts', () => {
    const entry = (id: string, vm: string) => ({
      id,
      wave: 1,
      healthChecks: [],
      failback: VsphereFailbackSettings.parse({ seed: { vm } }),
    });

    expect(resolveVsphereHosts([entry('i-1', 'db-1')], { powerOffSeed: true })).toEqual([
      { platform: 'vsphere', seed: { vm: 'db-1', powerOff: true } },
    ]);
    expect(() => resolveVsphereHosts([entry('i-1', 'db-1'), entry('i-2', 'db-1')])).toThrow(
      /hosts\[1\]\.failback\.seed\.vm: db-1 is also hosts\[0\]'s seed/,
    );
  });
});

describe('SnapshotVolumes with seeded on-prem disks', () => {
  let fixture: ComputeFixture;
  beforeEach(async () => {
    fixture = await computeFixture();
  });
  afterEach(async () => {
    await fixture.cleanup();
  });

  it("seeds pass 1 of each volume the agent seeded (its PrepareTarget result's disks[].seed), and no later pass", async () => {
    const host = await fixture.compute.createTakeoverHost({
      name: 'db',
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
    const recordKey = 'runs/r1/agent/volumes/v0/seed.json';
    const input = {
      runId: 'r1',
      takeoverHostIds: [host.hostId],
      volumes,
      previous: { number: 0, final: false, snapshots: [] },
      final: false,
      target: {
        disks: [
          { volumeKey: 'v0', seed: { recordKey, preservedAs: '[ds] homebound-preserved/r1/db/disk-0.vmdk' } },
          { volumeKey: 'v1' },
        ],
      },
    };
    const deps = stepDeps(fixture.compute);

    const first = await snapshotVolumes(input, deps);
    const second = await snapshotVolumes({ ...input, previous: first }, deps);

    expect(first.kind).toBe('full');
    expect(first.snapshots.map((snapshot) => snapshot.seed)).toEqual([{ recordKey }, undefined]);
    expect(second.kind).toBe('incremental');
    expect(second.snapshots.every((snapshot) => snapshot.seed === undefined)).toBe(true);
  });
});
