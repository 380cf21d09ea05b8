import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PrepareTargetInput } from '../../core/agent/operations.js';
import { planOnPremRun } from '../../core/failback/steps/plan-on-prem-run.js';
import { validateRequest } from '../../core/failback/steps/validate-request.js';
import { LOCAL_TAKEOVER_TAG } from '../../core/failback/takeover-tag.js';
import { PlacementNotConfiguredError, VspherePasswordFileError } from '../../core/onprem/errors.js';
import type { PlatformRun } from '../../core/onprem/platform.js';
import { failbackVmName, VspherePlatform } from '../../core/onprem/vsphere-platform.js';
import { type ComputeFixture, computeFixture, MiB } from '../compute/local-compute-helpers.js';
import { stepDeps } from '../support/step-deps.js';

describe('vSphere settings from the request to the agent', () => {
  let fixture: ComputeFixture;
  beforeEach(async () => {
    fixture = await computeFixture();
  });
  afterEach(async () => {
    await fixture.cleanup();
  });

  it('plans each VM with the asked name, vCPUs, memory and placement, else its takeover host’s size', async () => {
    const takeover = async (name: string) =>
      (
        await fixture.compute.createTakeoverHost({
          name,
          volumes: [{ sizeBytes: MiB }],
          writesPerSecond: 0,
          instanceType: 'm5.xlarge',
          tags: { [LOCAL_TAKEOVER_TAG.key]: LOCAL_TAKEOVER_TAG.value },
        })
      ).hostId;
    const db = await takeover('db');
    const web = await takeover('web');
    const deps = stepDeps(fixture.compute);
    const inventory = await validateRequest(
      {
        runId: 'r1',
        request: {
          method: 'conditional-automated',
          hosts: [
            { id: db, failback: { vmName: 'db-home', numCPUs: 8, memoryMiB: 32_768, datastore: 'LocalDS_0' } },
            { id: web, wave: 2 },
          ],
          target: { platform: 'vsphere' },
        },
      },
      deps,
    );

    const plan = await planOnPremRun(
      {
        runId: 'r1',
        hosts: inventory.hosts,
        volumes: inventory.volumes,
        agent: { heartbeatSeconds: 15, unavailableAfterSeconds: 300 },
      },
      deps,
    );

    expect(plan.hosts).toEqual([
      {
        hostId: db,
        name: 'db',
        instanceType: 'm5.xlarge',
        vCpus: 8,
        memoryMiB: 32_768,
        vmName: 'db-home',
        placement: { datastore: 'LocalDS_0' },
      },
      { hostId: web, name: 'web', instanceType: 'm5.xlarge', vCpus: 4, memoryMiB: 16_384 },
    ]);
    // The agent's PrepareTarget takes the planned hosts as they are.
    const parsed = PrepareTargetInput.parse({
      operation: 'PrepareTarget',
      runId: 'r1',
      hosts: plan.hosts,
      volumes: plan.volumes,
    });
    expect(parsed.hosts[0]).toMatchObject({ vmName: 'db-home', placement: { datastore: 'LocalDS_0' } });
  });
});

describe('the vsphere platform and a request’s VM settings', () => {
  const host = { hostId: 'i-0db', name: 'db', instanceType: 'm5.large', vCpus: 2, memoryMiB: 8192 };
  const platform = new VspherePlatform({
    endpoint: { url: 'https://127.0.0.1:9/sdk' },
    username: 'u',
    passwordFile: '/nonexistent/homebound-password',
    target: {
      datacenter: 'DC0',
      datastore: 'LocalDS_0',
      datastoreMount: '/tmp',
      network: 'VM Network',
      resourcePool: 'DC0_C0/Resources',
    },
    wait: {},
  });
  const prepare = (placement: Record<string, string>) => {
    const run: PlatformRun = { runId: 'r1', hosts: [{ ...host, placement }], volumes: [] };
    return platform.prepare(run, new AbortController().signal);
  };

  it('names the VM as the request asks, else after the takeover host', () => {
    expect(failbackVmName({ ...host, vmName: 'db-home' })).toBe('db-home');
    expect(failbackVmName(host)).toBe('homebound-db-i-0db');
  });

  it('refuses a placement other than its config before connecting, and goes on with the configured one', async () => {
    await expect(prepare({ datastore: 'OtherDS' })).rejects.toThrow(PlacementNotConfiguredError);
    await expect(prepare({ portGroup: 'DMZ' })).rejects.toThrow(
      /failback.portGroup "DMZ" is not the agent's configured portGroup \(VM Network\)/,
    );
    // The configured place passes the check; only then does it connect (and here finds no password file).
    await expect(prepare({ datastore: 'LocalDS_0', portGroup: 'VM Network' })).rejects.toThrow(
      VspherePasswordFileError,
    );
  });
});
