import { readlink } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BootContext, hostDeviceDir, hostStateDir } from '../../core/compute/local-boot.js';
import { LocalCompute } from '../../core/compute/local-compute.js';
import { volumePath } from '../../core/compute/local-state.js';
import { type ComputeFixture, computeFixture, hostState, MiB, waitUntil } from './local-compute-helpers.js';

let fixture: ComputeFixture;
let compute: LocalCompute;
let boots: BootContext[];
let stops: string[];
let releaseStop: () => void;
let stopGate: Promise<void>;

beforeEach(async () => {
  fixture = await computeFixture();
  boots = [];
  stops = [];
  stopGate = Promise.resolve();
  compute = new LocalCompute({
    stateDir: fixture.stateDir,
    store: fixture.store,
    bootstrap: (context) => {
      boots.push(context);
      return {
        stop: async () => {
          await stopGate;
          stops.push(context.hostId);
        },
      };
    },
  });
});

afterEach(async () => {
  await compute.close();
  await fixture.cleanup();
});

function holdStops(): void {
  stopGate = new Promise((resolve) => {
    releaseStop = resolve;
  });
}

describe('LocalCompute boots hosts that have user data', () => {
  it('boots on launch with per-host device and state dirs, not hosts without user data', async () => {
    const gateway = await compute.runInstance({ role: 'gateway', name: 'gw', userData: '#!/bin/bash\ntrue\n' });
    await compute.runInstance({ role: 'failback', name: 'fb' });
    await compute.createTakeoverHost({ name: 'db', volumes: [{ sizeBytes: MiB }], writesPerSecond: 10 });

    expect(boots).toEqual([
      {
        hostId: gateway,
        role: 'gateway',
        userData: '#!/bin/bash\ntrue\n',
        // As EC2 names it: what the local gateway writes below, and where CheckApplied reads (compute.instanceArn).
        instanceArn: `arn:aws:ec2:us-east-1:000000000000:instance/${gateway}`,
        deviceDir: hostDeviceDir(fixture.stateDir, gateway),
        stateDir: hostStateDir(fixture.stateDir, gateway),
      },
    ]);
    expect(boots[0]?.deviceDir).toMatch(/\/hosts\/i-[0-9a-f]{17}\/devices$/);
    expect(compute.instanceArn(gateway)).toBe(boots[0]?.instanceArn);
  });

  it('keeps a host stopping until what its boot started has stopped, and boots it again on start', async () => {
    const gateway = await compute.runInstance({ role: 'gateway', name: 'gw', userData: 'x' });
    holdStops();

    await compute.stopInstances([gateway]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const whileHeld = await hostState(compute, gateway);
    releaseStop();
    await waitUntil(async () => (await hostState(compute, gateway)) === 'stopped');
    await compute.startInstances([gateway]);

    expect(whileHeld).toBe('stopping');
    expect(stops).toEqual([gateway]);
    expect(boots.map((boot) => boot.hostId)).toEqual([gateway, gateway]);
  });

  it('boots running hosts again for a LocalCompute reopened on the same state dir', async () => {
    const gateway = await compute.runInstance({ role: 'gateway', name: 'gw', userData: 'x' });
    await compute.close();
    const rebooted: string[] = [];

    const reopened = new LocalCompute({
      stateDir: fixture.stateDir,
      store: fixture.store,
      bootstrap: (context) => {
        rebooted.push(context.hostId);
        return { stop: async () => undefined };
      },
    });
    await reopened.resumeWorkloads();
    await reopened.close();

    expect(rebooted).toEqual([gateway]);
    expect(stops).toEqual([gateway]);
  });

  it('links volumes into the device dir on launch and attach, and unlinks them on detach and termination', async () => {
    const takeover = await compute.createTakeoverHost({
      name: 'db',
      volumes: [{ sizeBytes: MiB }],
      writesPerSecond: 10,
    });
    const [launched] = takeover.volumes;
    const volumeId = await compute.createVolume({ sizeBytes: MiB });
    const other = await compute.createVolume({ sizeBytes: MiB });
    const gateway = await compute.runInstance({ role: 'gateway', name: 'gw' });
    const linkOf = (hostId: string, id: string) => readlink(`${hostDeviceDir(fixture.stateDir, hostId)}/${id}`);

    await compute.attachVolume(volumeId, gateway, '/dev/sdf');
    await compute.attachVolume(other, gateway, '/dev/sdg');
    const attached = await linkOf(gateway, volumeId);
    await compute.detachVolume(volumeId);
    const detached = await linkOf(gateway, volumeId).catch((e: NodeJS.ErrnoException) => e.code);
    await compute.terminateInstances([gateway]);
    await waitUntil(async () => (await hostState(compute, gateway)) === 'terminated');
    const terminated = await linkOf(gateway, other).catch((e: NodeJS.ErrnoException) => e.code);

    expect(launched && (await linkOf(takeover.hostId, launched.volumeId))).toBe(
      launched && volumePath(fixture.stateDir, launched.volumeId),
    );
    expect(attached).toBe(volumePath(fixture.stateDir, volumeId));
    expect(detached).toBe('ENOENT');
    expect(terminated).toBe('ENOENT');
  });
});
