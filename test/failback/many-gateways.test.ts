import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrillTakeoverHost } from '../../cli/drill/takeover.js';
import { checkWorkloadWrites, compareVolumes } from '../../cli/drill/verify.js';
import type { Host } from '../../core/compute/port.js';
import { parseStagedJson } from '../../core/engine/manifest.js';
import { RUN_TAG, runLayout, TargetState } from '../../core/failback/run-state.js';
import { RunReport } from '../../core/failback/steps/report.js';
import { GATEWAY_VOLUMES_DIR } from '../../core/gateway/scope.js';
import type { LocalRunEvent } from '../../core/orchestration/local-runner.js';
import { type FailbackFixture, startFailbackFixture } from '../support/failback.js';

/**
 * Issue 14's acceptance: "a run with 48 volumes uses at least 3 gateways and ends identical". 8 takeover hosts of
 * 6 small volumes each, at most 12 volumes a gateway: the plan puts two whole hosts on each of 4 gateways.
 */
const HOSTS = 8;
const VOLUMES_PER_HOST = 6;
const VOLUMES_PER_GATEWAY = 12;
const RUN = 'many-gateways';

let fixture: FailbackFixture;
beforeAll(async () => {
  fixture = await startFailbackFixture();
});
afterAll(async () => {
  await fixture?.stop();
});

/** PrepareTarget's answer, as the state machine recorded it. */
function preparedTarget(history: readonly LocalRunEvent[]): TargetState {
  const exited = history.find((event) => event.type === 'StateExited' && event.stateName === 'PrepareTarget');
  if (exited?.type !== 'StateExited') throw new Error('PrepareTarget never exited');
  return TargetState.parse((exited.output as { target?: unknown }).target);
}

describe('a run with more volumes than one sync gateway holds (statemachines/automated-failback.asl.json)', () => {
  it('spreads 48 volumes over 4 gateways, two whole hosts each, and ends with every target volume identical', async () => {
    const hosts: Host[] = [];
    for (let i = 0; i < HOSTS; i++) {
      hosts.push(
        await createDrillTakeoverHost(fixture.env, {
          name: `fleet-${i}`,
          volumes: VOLUMES_PER_HOST,
          sizeBytes: 2 * 1024 * 1024 + 4096,
          writesPerSecond: 4,
          seed: 200 + i,
        }),
      );
    }
    const execution = fixture.env.machine.run(
      fixture.request(
        hosts.map((host) => host.hostId),
        { target: { platform: 'aws', region: 'local', volumesPerGateway: VOLUMES_PER_GATEWAY } },
      ),
      { executionName: RUN },
    );
    const approval = await fixture.env.approvals.next();

    // Before the cutover: 4 gateways launched, each holding two whole hosts' volumes and acknowledging only those.
    const target = preparedTarget(execution.history);
    const gateways = target.gateways ?? [];
    expect(gateways).toHaveLength(4);
    const launched = (await fixture.env.compute.describeHosts({ tag: { key: RUN_TAG, value: RUN } })).filter(
      (host) => host.role === 'gateway',
    );
    expect(launched.map((host) => host.hostId).sort()).toEqual(gateways.map((gateway) => gateway.hostId).sort());
    const hostOf = (volumeKey: string) =>
      hosts.find((host) => host.volumes.some((volume) => volume.volumeId === volumeKey))?.hostId;
    for (const [index, gateway] of gateways.entries()) {
      expect(new Set(gateway.volumeKeys.map(hostOf))).toEqual(
        new Set([hosts[2 * index]?.hostId, hosts[2 * index + 1]?.hostId]),
      );
      const onGateway = launched.find((host) => host.hostId === gateway.hostId)?.volumes ?? [];
      const targetIds = target.volumes.filter((volume) => gateway.volumeKeys.includes(volume.volumeKey));
      expect(onGateway.map((volume) => volume.volumeId).sort()).toEqual(targetIds.map((v) => v.targetVolumeId).sort());
      const scope = runLayout.gatewayScope(RUN, fixture.env.compute.instanceArn(gateway.hostId));
      const acked = await fixture.env.deps.staging(scope + GATEWAY_VOLUMES_DIR).list('');
      expect(new Set(acked.map((key) => key.split('/')[0]))).toEqual(new Set(gateway.volumeKeys));
    }

    expect(await fixture.env.approvals.approve(approval.runId, 'test')).toBe(true);
    const output = (await execution.result) as { status: string };

    expect(output.status).toBe('succeeded');
    const record = fixture.env.deps.staging(runLayout.record(RUN));
    const report = parseStagedJson(RunReport, await record.get(runLayout.reportKey), 'report.json');
    expect(report.volumes).toHaveLength(HOSTS * VOLUMES_PER_HOST);
    const checks = await compareVolumes(fixture.env, report.volumes);
    expect(checks.filter((check) => !check.identical)).toEqual([]);
    for (const host of hosts) {
      const writes = await checkWorkloadWrites(
        fixture.env,
        host,
        (id) => report.volumes.find((volume) => volume.sourceVolumeId === id)?.targetVolumeId,
      );
      expect(writes.lost).toEqual([]);
    }
    const after = await fixture.env.compute.describeHosts({ hostIds: gateways.map((gateway) => gateway.hostId) });
    expect(after.map((host) => host.state)).toEqual(gateways.map(() => 'terminated'));
    expect(await fixture.env.deps.staging(runLayout.gateways(RUN)).list('')).toEqual([]);
  }, 240_000);
});
