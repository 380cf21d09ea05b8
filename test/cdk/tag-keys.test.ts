import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalCompute } from '../../core/compute/local-compute.js';
import { loadState } from '../../core/compute/local-state.js';
import { STACK_TAG } from '../../core/compute/port.js';
import type { FailbackDeps } from '../../core/failback/run-state.js';
import { launchFailbackHosts } from '../../core/failback/steps/hosts.js';
import { prepareTarget } from '../../core/failback/steps/prepare-target.js';
import { type ComputeFixture, computeFixture, MiB } from '../compute/local-compute-helpers.js';
import { stepDeps } from '../support/step-deps.js';
import { resourcesOf, statementsOf, synthesizeHomebound } from './synth.js';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const { template } = synthesizeHomebound();

/** The `aws:TagKeys` a task's role may set with `action` on resources of `kind`. */
function allowedTagKeys(task: string, action: string, kind: 'instance' | 'volume'): unknown {
  const statements = Object.entries(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter(([id]) => id.startsWith(`FailbackFunctions${task}Role`))
    .flatMap(([, policy]) => statementsOf(policy.Properties.PolicyDocument) as unknown as Statement[])
    .filter((s) => [s.Action].flat().includes(action) && JSON.stringify(s.Resource).includes(`:${kind}/`));
  expect(statements, `${task} ${action} ${kind}`).toHaveLength(1);
  return statements[0]?.Condition?.['ForAllValues:StringEquals']?.['aws:TagKeys'];
}

let fixture: ComputeFixture;
let compute: LocalCompute;
let deps: FailbackDeps;

beforeEach(async () => {
  fixture = await computeFixture();
  // Tags as the deployed adapter puts them, so the keys are exactly what EC2 would be asked for.
  compute = new LocalCompute({ stateDir: fixture.stateDir, store: fixture.store, resourceTags: { [STACK_TAG]: 'x' } });
  deps = stepDeps(compute);
});
afterEach(async () => {
  await compute.close();
  await fixture.cleanup();
});

describe('the tag keys IAM allows at creation', () => {
  it('cover every key PrepareTarget and LaunchFailbackHosts put on what they create', async () => {
    const takeover = await fixture.compute.createTakeoverHost({
      name: 'db',
      volumes: [{ sizeBytes: MiB }],
      writesPerSecond: 0,
    });
    const volume = takeover.volumes[0];
    if (!volume) throw new Error('the takeover host has no volume');
    const runVolume = { ...volume, hostId: takeover.hostId, volumeKey: 'v0' };

    const target = await prepareTarget({ runId: 'r1', volumes: [runVolume] }, deps);
    const failback = await launchFailbackHosts({ runId: 'r1', hosts: [{ hostId: takeover.hostId, name: 'db' }] }, deps);

    const state = await loadState(fixture.stateDir);
    const keysOf = (hostId: string) => Object.keys(state.hosts[hostId]?.tags ?? {});
    const gatewayKeys = keysOf(target.gateways?.[0]?.hostId ?? '');
    const failbackKeys = keysOf(failback.hostIds[0] ?? '');
    const targetKeys = Object.keys(state.volumes[target.volumes[0]?.targetVolumeId ?? '']?.tags ?? {});
    expect(gatewayKeys).toContain(STACK_TAG);
    expect(targetKeys).toContain(STACK_TAG);
    // RunInstances tags the instance and its volumes alike.
    for (const kind of ['instance', 'volume'] as const) {
      expect(allowedTagKeys('PrepareTarget', 'ec2:RunInstances', kind)).toEqual(expect.arrayContaining(gatewayKeys));
      expect(allowedTagKeys('LaunchFailbackHosts', 'ec2:RunInstances', kind)).toEqual(
        expect.arrayContaining(failbackKeys),
      );
    }
    expect(allowedTagKeys('PrepareTarget', 'ec2:CreateVolume', 'volume')).toEqual(expect.arrayContaining(targetKeys));
  });
});
