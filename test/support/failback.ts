import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDrillTakeoverHost } from '../../cli/drill/takeover.js';
import type { Host } from '../../core/compute/port.js';
import { automatedMethod } from '../../core/methods/automated.js';
import type { LocalExecution, LocalRunEvent, TaskHandler } from '../../core/orchestration/local-runner.js';
import { type LocalFailback, type LocalFailbackOptions, startLocalFailback } from '../../core/wiring/local.js';

/** Per-test faults: a handler here replaces the bound one for that state until removed. */
export type Faults = Map<string, TaskHandler>;

const FAULTABLE = ['SnapshotVolumes', 'Cutover', 'VerifyFailback', 'PrepareTarget'] as const;

export interface FailbackFixture {
  readonly env: LocalFailback;
  readonly faults: Faults;
  /** A takeover host with 2 small volumes (@default 8 MiB + 4 KiB) of realistic data and a live workload. */
  takeoverHost(name: string, seed?: number, sizeBytes?: number): Promise<Host>;
  /** A request for these hosts that converges quickly. */
  request(hosts: readonly string[], overrides?: Record<string, unknown>): Record<string, unknown>;
  stop(): Promise<void>;
}

/**
 * The automated method on a fresh local cloud, every Task bound to its real handler; `faults` lets a test replace
 * a few states' handlers (a transient error, a hard failure) while the rest run for real.
 */
export async function startFailbackFixture(
  options: Pick<LocalFailbackOptions, 'metricsSink' | 'ebsFaults' | 'streamSplit' | 'failbackLaunch'> = {},
): Promise<FailbackFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'hb-failback-'));
  const faults: Faults = new Map();
  const env = await startLocalFailback({
    method: automatedMethod,
    ...options,
    dir,
    waitMs: 50,
    retryIntervalMs: 20,
    stateHandlers: (bound) =>
      Object.fromEntries(
        FAULTABLE.map((state) => [
          state,
          (input: Parameters<TaskHandler>[0], context: Parameters<TaskHandler>[1]) =>
            (faults.get(state) ?? bound(state))(input, context),
        ]),
      ),
  });
  return {
    env,
    faults,
    takeoverHost: (name, seed = 1, sizeBytes = 8 * 1024 * 1024 + 4096) =>
      createDrillTakeoverHost(env, { name, volumes: 2, sizeBytes, writesPerSecond: 50, seed }),
    request: (hosts, overrides = {}) => ({
      method: 'automated',
      hosts,
      target: { platform: 'aws', region: 'local' },
      convergence: { thresholdMiB: 64, maxPasses: 4 },
      approval: { timeoutSeconds: 120 },
      ...overrides,
    }),
    stop: async () => {
      await env.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The states a run entered, in order (top level only). */
export function statesEntered(history: readonly LocalRunEvent[]): string[] {
  return history.flatMap((event) =>
    event.type === 'StateEntered' && event.mapIndex === undefined ? [event.stateName] : [],
  );
}

/**
 * Every event of a run: its own history, then each Distributed Map child's (StreamPass's children stream the
 * volumes: their StreamVolumePass, StreamShardRange and SealVolumePass are in the children's histories, as on AWS).
 */
export function allEvents(execution: Pick<LocalExecution, 'history' | 'childExecutions'>): LocalRunEvent[] {
  return [...execution.history, ...execution.childExecutions.flatMap((child) => child.history)];
}
