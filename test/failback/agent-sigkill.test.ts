import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrillTakeoverHost } from '../../cli/drill/takeover.js';
import { createS3Client } from '../../core/adapters/aws/clients.js';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import type { Host } from '../../core/compute/port.js';
import { ACK_KEY, passPrefix } from '../../core/engine/layout.js';
import { imageSha256 } from '../../core/image-digest.js';
import { conditionalAutomatedMethod } from '../../core/methods/conditional-automated.js';
import type { LocalRunEvent } from '../../core/orchestration/local-runner.js';
import { seededRandom } from '../../core/seeded-random.js';
import { type LocalOnPremFailback, startLocalOnPremFailback } from '../../core/wiring/local-onprem.js';
import { statesEntered } from '../support/failback.js';

/**
 * The agent SIGKILLed at a random instant of a whole conditional-automated run (manual platform, the agent as its own
 * process, a takeover workload writing so every pass carries data), then started again after a short delay as
 * systemd's Restart=always would. Each trial's run must succeed with every target disk byte-identical to its
 * takeover volume at stop. Where each kill landed is read from the run and the on-prem store, not assumed.
 */

const MiB = 2 ** 20;
const SEED = 1313;

/** Where a trial aims its kill: during PrepareOnPremTarget, just after pass N is sealed, or after pass N is acked. */
type Aim = { kind: 'prepare' } | { kind: 'apply' | 'between'; pass: number };
/** Where it landed: `apply` = a pass was sealed before the kill and still had no ack after it. */
type Landing = 'prepare' | 'apply' | 'between';

/**
 * The trials' aims, covering PrepareOnPremTarget and each of passes 1–3 (full, catch-up, final) just after it is
 * sealed and after it is recorded; the instants within each (the delay after the trigger) are seeded random.
 */
const AIMS: readonly Aim[] = [
  { kind: 'prepare' },
  { kind: 'apply', pass: 1 },
  { kind: 'between', pass: 1 },
  { kind: 'apply', pass: 2 },
  { kind: 'prepare' },
  { kind: 'between', pass: 2 },
  { kind: 'apply', pass: 3 },
  { kind: 'apply', pass: 1 },
];

const TRIALS = AIMS.length;

interface Kill {
  readonly aim: Aim;
  readonly landed: Landing;
  readonly delayMs: number;
  readonly killedPid: number | undefined;
  readonly signal: NodeJS.Signals | null;
  readonly restartedPid: number | undefined;
  /** The agent held the PrepareTarget task when it died: the state failed with States.HeartbeatTimeout, retried. */
  readonly lostTask?: boolean;
}

let dir: string;
let env: LocalOnPremFailback;
const hosts: Host[] = [];
/** The trial's hook, called when StreamVolumePass has sealed a volume's pass. */
let onSealed: ((runId: string, passNumber: number) => void) | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-agent-sigkill-'));
  env = await startLocalOnPremFailback({
    method: conditionalAutomatedMethod,
    dir,
    platform: 'manual',
    waitMs: 50,
    retryIntervalMs: 20,
    // A task whose agent was killed is retried once this passes without a heartbeat (the agent beats every 1 s).
    agentHeartbeatTimeoutMs: 4000,
    stateHandlers: (bound) => ({
      StreamVolumePass: async (input, context) => {
        const output = await bound('StreamVolumePass')(input, context);
        const { runId, passNumber } = input as { runId?: unknown; passNumber?: unknown };
        if ((output as { done?: unknown }).done === true) onSealed?.(String(runId), Number(passNumber));
        return output;
      },
    }),
  });
  for (let i = 0; i < TRIALS; i++) {
    hosts.push(
      await createDrillTakeoverHost(env, {
        name: `sigkill-${i}`,
        volumes: 2,
        sizeBytes: 24 * MiB,
        writesPerSecond: 40,
        seed: SEED + i,
      }),
    );
  }
  await env.startSite(hosts.flatMap((host) => host.volumes.map((volume) => volume.volumeId)));
}, 120_000);

afterAll(async () => {
  await env?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function request(host: Host): Record<string, unknown> {
  return {
    method: 'conditional-automated',
    hosts: [host.hostId],
    target: { platform: 'manual' },
    convergence: { thresholdMiB: 64, maxPasses: 4 },
    approval: { timeoutSeconds: 120 },
    agent: { heartbeatSeconds: 1, unavailableAfterSeconds: 30, prepareTimeoutSeconds: 60, operationTimeoutSeconds: 60 },
  };
}

function site() {
  const running = env.site();
  if (!running) throw new Error('the site is not started');
  return running;
}

/** The on-prem store, read with its own keys. */
function onPremStore() {
  const { store } = site();
  const client = createS3Client({ endpoint: store.s3Endpoint, region: store.region, credentials: store.credentials });
  return new S3Staging(client, { bucket: store.bucket });
}

/** Each volume's sealed passes with no ack yet, as `volumeKey/pass`. */
async function unackedPasses(runId: string): Promise<Set<string>> {
  const keys = new Set(await onPremStore().list(`runs/${runId}/`));
  const pending = new Set<string>();
  for (const key of keys) {
    const match = /^runs\/[^/]+\/volumes\/([^/]+)\/pass-(\d+)\/manifest\.json$/.exec(key);
    if (!match?.[1] || !match[2]) continue;
    const [volumeKey, pass] = [match[1], Number(match[2])];
    if (!keys.has(`runs/${runId}/agent/volumes/${passPrefix(volumeKey, pass)}${ACK_KEY}`)) {
      pending.add(`${volumeKey}/${pass}`);
    }
  }
  return pending;
}

/** Is the state entered and not yet left (exited, failed or caught) in this history? */
function inState(history: readonly LocalRunEvent[], stateName: string): boolean {
  let open = 0;
  for (const event of history) {
    if (!('stateName' in event) || event.stateName !== stateName) continue;
    if (event.type === 'StateEntered') open++;
    if (event.type === 'StateExited' || event.type === 'StateFailed') open = Math.max(0, open - 1);
  }
  return open > 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** How long after its trigger a kill waits: the manual platform prepares in some tens of ms. */
function delayOf(aim: Aim, random: () => number): number {
  return Math.floor(random() * { prepare: 30, apply: 60, between: 300 }[aim.kind]);
}

describe('the agent SIGKILLed at random instants of a conditional-automated run (manual platform)', () => {
  it(`resumes after each kill in ${TRIALS} trials: each run succeeds, each target disk byte-identical to its takeover volume at stop`, async () => {
    const random = seededRandom(SEED);
    const kills: Kill[] = [];

    for (const [trial, aim] of AIMS.entries()) {
      const host = hosts[trial];
      if (!host) throw new Error(`no host for trial ${trial}`);
      const runId = `sigkill-${trial}`;
      const delayMs = delayOf(aim, random);
      const restartDelayMs = 200 + Math.floor(random() * 400);
      let kill: Promise<Kill> | undefined;
      let history: readonly LocalRunEvent[] = [];

      /** SIGKILLs the agent `delayMs` after `trigger`, records where it landed, starts it again after `restartDelayMs`. */
      const killOnce = (trigger?: () => Promise<void>) => {
        kill ??= (async (): Promise<Kill> => {
          await trigger?.();
          await sleep(delayMs);
          const agent = site().agent();
          if (!agent) throw new Error('no agent running to kill');
          const sealed = aim.kind === 'prepare' ? new Set<string>() : await unackedPasses(runId);
          const preparing = inState(history, 'PrepareOnPremTarget');
          const exit = await agent.stop('SIGKILL');
          // Dead now: a pass sealed before the kill with no ack after it was being applied when the agent died.
          const stillUnacked = await unackedPasses(runId);
          const applying = [...sealed].some((pass) => stillUnacked.has(pass));
          const landed: Landing = preparing ? 'prepare' : applying ? 'apply' : 'between';
          await sleep(restartDelayMs);
          const restarted = await site().startAgent();
          return { aim, landed, delayMs, killedPid: agent.pid, signal: exit.signal, restartedPid: restarted.pid };
        })();
      };
      /** The agent has taken this run's PrepareTarget task (its log says so). */
      const prepareStarted = async () => {
        await site()
          .agent()
          ?.waitForLog(new RegExp(`${runId}: PrepareTarget started`), 30_000);
      };

      let recorded = 0;
      onSealed = (sealedRun, passNumber) => {
        if (sealedRun === runId && aim.kind === 'apply' && passNumber === aim.pass) killOnce();
      };
      const execution = env.machine.run(request(host), {
        executionName: runId,
        onEvent: (event) => {
          if (event.type !== 'StateEntered') return;
          if (aim.kind === 'prepare' && event.stateName === 'PrepareOnPremTarget') killOnce(prepareStarted);
          if (event.stateName === 'RecordPass' && aim.kind === 'between' && ++recorded === aim.pass) killOnce();
        },
      });
      history = execution.history;
      try {
        // A run that ends before asking fails the trial with its own error instead of waiting for the test timeout.
        const ended = execution.result.then(() => {
          throw new Error(`trial ${trial}: the run ended without asking for approval`);
        });
        // Once both are answered the run succeeds and `ended` rejects with nobody racing it: not an unhandled one.
        ended.catch(() => undefined);
        for (let ask = 0; ask < 2; ask++) {
          await env.approvals.approve((await Promise.race([env.approvals.next(), ended])).runId, 'test');
        }
        const output = (await execution.result) as { status: string };
        expect(output.status, `trial ${trial} (${JSON.stringify(aim)})`).toBe('succeeded');
      } finally {
        onSealed = undefined;
      }
      if (!kill) throw new Error(`trial ${trial}: the kill aimed at ${JSON.stringify(aim)} never fired`);
      const done = await kill;
      const lostTask = execution.history.some(
        (event) =>
          event.type === 'StateFailed' &&
          event.stateName === 'PrepareOnPremTarget' &&
          event.error === 'States.HeartbeatTimeout',
      );
      kills.push({ ...done, lostTask });
      console.info(
        `trial ${trial}: ${JSON.stringify(aim)} +${delayMs} ms landed in ${done.landed}${lostTask ? ', its PrepareTarget task lost and retried' : ''}`,
      );

      expect(statesEntered(execution.history)).toEqual(expect.arrayContaining(['PrepareOnPremTarget', 'CutoverWaves']));
      expect(done.signal).toBe('SIGKILL');
      expect(done.restartedPid).toBeDefined();
      expect(done.restartedPid).not.toBe(done.killedPid);
      for (const volume of host.volumes) {
        expect(await imageSha256(site().manualDisks[volume.volumeId] ?? '')).toBe(
          await imageSha256(env.volumePath(volume.volumeId)),
        );
      }
      // A kill after PrepareTarget: the restarted agent took the run up again from its state dir.
      if (done.landed !== 'prepare') expect(site().agent()?.log()).toContain(`${runId}: following`);
      // A kill in PrepareOnPremTarget lost the task: the state machine retried it after the heartbeat timeout.
      if (done.landed === 'prepare') {
        const retried = execution.history.some(
          (event) => event.type === 'StateRetried' && event.stateName === 'PrepareOnPremTarget',
        );
        const resumed = site().agent()?.log().includes(`${runId}: following`);
        expect(retried || resumed).toBe(true);
      }
    }

    const landings = kills.map((k) => k.landed);
    expect(kills).toHaveLength(TRIALS);
    expect(landings).toContain('apply');
    expect(landings).toContain('prepare');
    expect(kills.some((k) => k.landed === 'prepare' && k.lostTask)).toBe(true);
    expect(new Set(kills.map((k) => k.killedPid)).size).toBe(TRIALS);
  }, 240_000);
});
