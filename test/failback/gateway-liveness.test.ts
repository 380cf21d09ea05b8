import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrillTakeoverHost } from '../../cli/drill/takeover.js';
import { automatedMethod } from '../../core/methods/automated.js';
import { ExecutionFailedError } from '../../core/orchestration/local-runner.js';
import { type LocalFailback, startLocalFailback } from '../../core/wiring/local.js';
import { statesEntered } from '../support/failback.js';

/**
 * Reliability 1 of issue 12: a gateway in a crash loop used to hang the run until applyTimeoutSeconds. Here every
 * gateway process is SIGKILLed as soon as it has written its first heartbeat, so the local compute adapter restarts
 * it until its restarts are used up; the host stays "running" all along.
 */
describe('a sync gateway that keeps dying', () => {
  const UNAVAILABLE_AFTER_SECONDS = 8;
  let dir: string;
  let env: LocalFailback;
  const pids: number[] = [];
  const killed: number[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hb-liveness-'));
    env = await startLocalFailback({
      method: automatedMethod,
      dir,
      waitMs: 50,
      retryIntervalMs: 20,
      onGatewayOutput: (line) => {
        const pid = line.match(/\(pid (\d+)\)/)?.[1];
        if (pid) pids.push(Number(pid));
        if (/heartbeat every \d+ s at /.test(line)) {
          const latest = pids.at(-1);
          if (latest !== undefined) {
            killed.push(latest);
            process.kill(latest, 'SIGKILL');
          }
        }
      },
    });
  });
  afterAll(async () => {
    await env?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('rolls the run back with GatewayUnavailableError within the limit of its last heartbeat', async () => {
    const host = await createDrillTakeoverHost(env, {
      name: 'crash-loop',
      volumes: 1,
      sizeBytes: 8 * 1024 * 1024,
      writesPerSecond: 20,
      seed: 21,
    });
    let rollbackAt = 0;
    const execution = env.machine.run(
      {
        method: 'automated',
        hosts: [host.hostId],
        target: { platform: 'aws', region: 'local' },
        convergence: { thresholdMiB: 64, maxPasses: 4 },
        approval: { timeoutSeconds: 120 },
        // Without the heartbeat the run would wait this long (and the test time out first).
        applyTimeoutSeconds: 3600,
        gateway: { heartbeatSeconds: 1, unavailableAfterSeconds: UNAVAILABLE_AFTER_SECONDS },
      },
      {
        executionName: 'crash-loop',
        onEvent: (event) => {
          if (event.type === 'StateEntered' && event.stateName === 'Rollback') rollbackAt ||= Date.now();
        },
      },
    );

    const error = await execution.result.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    expect(error).toBeInstanceOf(ExecutionFailedError);
    const failed = error as ExecutionFailedError;
    expect(failed.error).toBe('FailbackRolledBack');
    expect(failed.cause).toContain('GatewayUnavailableError');
    expect(statesEntered(execution.history)).not.toContain('RecordPass');
    // Every process was killed after its first beat and restarted, up to 5 times; on a loaded machine one restart
    // can take longer than the limit, which ends the run earlier for the same reason.
    const [gateway] = (await env.compute.describeHosts()).filter((h) => h.role === 'gateway');
    const restarts = env.gatewayRestarts.get(gateway?.hostId ?? '') ?? 0;
    expect(restarts).toBeGreaterThanOrEqual(2);
    expect(restarts).toBeLessThanOrEqual(5);
    expect(killed.length).toBeGreaterThanOrEqual(restarts);
    // Rolled back within the limit of the last heartbeat (plus one poll and the check itself).
    const lastBeat = Date.parse(failed.cause.match(/last heartbeat (\S+),/)?.[1] ?? '');
    expect(rollbackAt - lastBeat).toBeGreaterThan(UNAVAILABLE_AFTER_SECONDS * 1000);
    expect(rollbackAt - lastBeat).toBeLessThan((UNAVAILABLE_AFTER_SECONDS + 3) * 1000);
    const [takeover] = await env.compute.describeHosts({ hostIds: [host.hostId] });
    expect(takeover?.state).toBe('running');
  }, 90_000);
});
