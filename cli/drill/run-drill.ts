import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTOMATED_FAILBACK_DEFINITION, startLocalFailback } from '../../core/failback/local-environment.js';
import { readDefinition } from '../../core/orchestration/asl-walk.js';
import { decideApproval } from './decide-approval.js';
import type { DrillOptions } from './drill-options.js';
import { drillReport } from './drill-outcome.js';
import type { DrillReport } from './drill-report.js';
import { failAtHandlers, unreachedFailAt } from './fail-at.js';
import { CountingBlockSource, DrillProgress } from './progress.js';
import { createDrillTakeoverHost } from './takeover.js';

export type { DrillOptions } from './drill-options.js';

const MiB = 1024 * 1024;

/**
 * Runs the automated failback on the local cloud: a takeover host with live writes, the real state machine file,
 * a real sync gateway process, and checks the outcome byte for byte. Returns the report; never throws for a run
 * that rolls back or fails — that is the report's status.
 */
export async function runDrill(options: DrillOptions, say: (line: string) => void): Promise<DrillReport> {
  for (const missed of unreachedFailAt(
    readDefinition(AUTOMATED_FAILBACK_DEFINITION),
    options.failAt,
    options.approval,
  )) {
    say(`warning: --fail-at ${missed.state} will not be reached by this rehearsal: ${missed.why}`);
  }
  const dir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'homebound-drill-')));
  const started = new Date();
  let counting: CountingBlockSource | undefined;
  const env = await startLocalFailback({
    dir,
    waitMs: 250,
    wrapBlockSource: (source) => {
      counting = new CountingBlockSource(source);
      return counting;
    },
    ...(options.failAt.length > 0 ? { stateHandlers: failAtHandlers(options.failAt) } : {}),
  });
  try {
    say(`local cloud up (EBS ${env.cloud.ebsEndpoint}, S3 ${env.cloud.s3Endpoint}); work dir ${dir}`);
    const host = await createDrillTakeoverHost(env, {
      name: 'drill-app',
      volumes: options.volumes,
      sizeBytes: options.sizeMiB * MiB,
      writesPerSecond: options.writesPerSecond,
      seed: options.seed,
    });
    say(
      `takeover host ${host.hostId}: ${options.volumes} × ${options.sizeMiB} MiB, ${options.writesPerSecond} writes/s`,
    );

    const runId = `drill-${started.toISOString().replace(/[:.]/g, '-')}`;
    const progress = new DrillProgress(counting as CountingBlockSource, say, options.interactive);
    const decided = await decideApproval(env, options, say);
    const execution = env.machine.run(
      {
        method: 'automated',
        hosts: [host.hostId],
        target: { platform: 'aws', region: env.cloud.region },
        convergence: { thresholdMiB: options.thresholdMiB, maxPasses: options.maxPasses },
        approval: { timeoutSeconds: options.approvalTimeoutSeconds },
      },
      { executionName: runId, onEvent: (event) => progress.onEvent(event) },
    );
    let error: unknown;
    try {
      await execution.result;
    } catch (caught) {
      error = caught;
    } finally {
      progress.stop();
      await decided.cancel();
    }
    return await drillReport(env, { runId, host, error, options, started, history: execution.history });
  } finally {
    await env.stop();
    if (!options.workDir) await rm(dir, { recursive: true, force: true });
  }
}
