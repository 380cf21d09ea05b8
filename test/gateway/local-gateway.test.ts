import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostDeviceDir } from '../../core/compute/local-boot.js';
import { LocalCompute } from '../../core/compute/local-compute.js';
import { gatewayBootstrap } from '../../core/compute/local-gateway-bootstrap.js';
import { localInstanceArn, volumePath } from '../../core/compute/local-state.js';
import { renderGatewayUserData } from '../../core/gateway/config.js';
import { imageSha256 } from '../../core/image-digest.js';
import { hostState, MiB, waitUntil } from '../compute/local-compute-helpers.js';
import { STAGING_BUCKET, startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { gatewayConfig, gatewayRecords, stagePass, waitForAck } from './helpers.js';

/** Whether a process with this pid still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function pidsIn(lines: readonly string[], hostId: string): number[] {
  return lines.flatMap((line) => {
    const match = line.match(/^\[(i-[0-9a-f]+)\] gateway started \(pid (\d+)\)/);
    return match && match[1] === hostId ? [Number(match[2])] : [];
  });
}

describe('LocalCompute runs gateway user data at boot', () => {
  let test: TestCloud;
  let compute: LocalCompute;
  let output: string[];
  let run = 0;
  beforeAll(async () => {
    test = await startTestCloud();
  });
  afterEach(async () => {
    await compute.close();
  });
  afterAll(() => test.stop());

  function newCompute(
    bootstrapOptions: {
      restartDelayMs?: number;
      maxRestarts?: number;
      onRestart?: (hostId: string, restarts: number) => void;
    } = {},
  ) {
    output = [];
    run += 1;
    const stateDir = join(test.dir, `compute-${run}`);
    compute = new LocalCompute({
      stateDir,
      store: test.cloud.store,
      bootstrap: gatewayBootstrap({
        env: test.cloud.env(),
        onOutput: (line) => output.push(line),
        ...bootstrapOptions,
      }),
    });
    return { compute, stateDir };
  }

  it('links attached volumes into the device dir, and the gateway applies a staged pass to the attached volume', async () => {
    const { compute, stateDir } = newCompute();
    const sizeBytes = 4 * MiB;
    const takeover = await compute.createTakeoverHost({
      name: 'db',
      volumes: [{ sizeBytes }],
      writesPerSecond: 400,
      seed: 5,
    });
    await waitUntil(() => (compute.workloadOf(takeover.hostId)?.writes.length ?? 0) >= 20);
    await compute.stopInstances([takeover.hostId]);
    await waitUntil(async () => (await hostState(compute, takeover.hostId)) === 'stopped');
    const sourceVolume = takeover.volumes[0]?.volumeId ?? '';
    const targetVolume = await compute.createVolume({ sizeBytes });
    const staging = test.stagingAt(STAGING_BUCKET, 'runs/local-gw/');
    const config = gatewayConfig('runs/local-gw/', [{ volumeKey: 'db-root', volumeId: targetVolume, sizeBytes }]);

    const gateway = await compute.runInstance({ role: 'gateway', name: 'gw', userData: renderGatewayUserData(config) });
    const failback = await compute.runInstance({ role: 'failback', name: 'fb' });
    await compute.attachVolume(targetVolume, gateway, '/dev/sdf');
    const link = join(hostDeviceDir(stateDir, gateway), targetVolume);
    expect(await readlink(link)).toBe(volumePath(stateDir, targetVolume));

    await stagePass({ store: test.cloud.store, source: test.source, staging }, volumePath(stateDir, sourceVolume), {
      volumeKey: 'db-root',
      passNumber: 1,
      sizeBytes,
      volumeId: sourceVolume,
    });
    // It writes below its host's ARN, which the bootstrap gave it as --instance-arn.
    const ack = await waitForAck(gatewayRecords(test.stagingAt, config, localInstanceArn(gateway)), 'db-root', 1);
    expect(ack.target).toBe(link);
    expect(await imageSha256(volumePath(stateDir, targetVolume))).toBe(
      await imageSha256(volumePath(stateDir, sourceVolume)),
    );

    const [firstPid] = pidsIn(output, gateway);
    await compute.stopInstances([gateway]);
    const duringStop = await hostState(compute, gateway);
    await waitUntil(async () => (await hostState(compute, gateway)) === 'stopped', 15_000);
    expect(duringStop).toBe('stopping');
    expect(firstPid && alive(firstPid)).toBe(false);
    expect(output.join('\n')).toMatch(/homebound gateway: stopped/);
    expect(output.join('\n')).not.toMatch(/restarting/);

    // Started again, the gateway finds its journal in the host's state dir and follows the next pass.
    await compute.startInstances([gateway]);
    await waitUntil(
      () => output.some((line) => /db-root: device .* ready, at pass 1; following pass 2/.test(line)),
      30_000,
    );
    const [, secondPid] = pidsIn(output, gateway);
    await compute.terminateInstances([gateway]);
    await waitUntil(async () => (await hostState(compute, gateway)) === 'terminated', 15_000);

    expect(secondPid && alive(secondPid)).toBe(false);
    expect(await readdir(hostDeviceDir(stateDir, gateway))).toEqual([]);
    const [terminated] = await compute.describeHosts({ hostIds: [gateway] });
    expect(terminated?.volumes).toEqual([]);
    expect(output.some((line) => line.startsWith(`[${failback}]`))).toBe(false);
  });

  it('restarts a gateway that crashes, like systemd Restart=on-failure, and gives up after the last restart', async () => {
    const restarts: [string, number][] = [];
    const { compute } = newCompute({
      restartDelayMs: 50,
      maxRestarts: 2,
      onRestart: (hostId, count) => restarts.push([hostId, count]),
    });
    const config = {
      ...gatewayConfig('runs/no-bucket/', [{ volumeKey: 'root', volumeId: 'vol-0bbb', sizeBytes: MiB }]),
      staging: { bucket: 'homebound-missing-bucket', prefix: '' },
    };

    const gateway = await compute.runInstance({ role: 'gateway', name: 'gw', userData: renderGatewayUserData(config) });
    await waitUntil(() => output.some((line) => line.includes('not restarting')), 30_000);
    await compute.stopInstances([gateway]);
    await waitUntil(async () => (await hostState(compute, gateway)) === 'stopped');

    const text = output.join('\n');
    expect(pidsIn(output, gateway)).toHaveLength(3);
    expect(text).toMatch(/StagingBucketNotFoundError/);
    expect(text).toMatch(/exited with code 3; restarting in 50 ms \(restart 1 of 2\)/);
    expect(text).toMatch(/restart 2 of 2/);
    expect(text).toMatch(/exited with code 3; not restarting \(2 restarts used\)/);
    // What a drill prints as the gateway's restarts.
    expect(restarts).toEqual([
      [gateway, 1],
      [gateway, 2],
    ]);
  });
});
