import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../adapters/aws/clients.js';
import { S3Staging } from '../adapters/aws/s3-staging.js';
import { HomeboundError } from '../errors.js';
import type { FailbackTaskName } from '../failback/task-names.js';
import { AGENT_ACTIVITY_NAME } from '../localcloud/index.js';
import { ONPREM_STAGING_BUCKET, type OnPremSite, startOnPremSite } from '../localcloud/onprem-site.js';
import { AGENT_ACTIVITY_PLACEHOLDER } from '../methods/conditional-automated.js';
import { type LocalFailback, type LocalFailbackOptions, startLocalFailback } from './local.js';

/**
 * The local wiring of a method whose failback hosts are on-prem (conditional-automated): the local cloud as for the
 * automated method, plus the local on-prem site (core/localcloud/onprem-site.ts) — its own S3-compatible store,
 * vcsim or image files, the agent as its own process polling the cloud's activity API. What differs from the
 * automated wiring is chosen here: the pass staging of StreamPass/CheckApplied/CleanUp is the on-prem store, the
 * Activity Tasks go to the agent, and their heartbeat is judged in seconds.
 */

/** The Activity Task states of statemachines/conditional-automated-failback.asl.json. */
export const AGENT_STATES = [
  'PrepareOnPremTarget',
  'VerificationBoot',
  'CutoverOnPrem',
  'CheckWaveHealthOnPrem',
  'VerifyOnPrem',
  'RollbackOnPrem',
] as const;

/** The tasks that write, read or delete the run's passes and the agent's records: they use the on-prem store. */
const PASS_TASKS: readonly FailbackTaskName[] = ['StreamPass', 'CheckApplied', 'CleanUp'];

/** A task needed the on-prem store before `startSite` started it. */
export class OnPremSiteNotStartedError extends HomeboundError {
  constructor() {
    super('the local on-prem site is not started: call startSite(volumeIds) before running an execution');
  }
}

export interface LocalOnPremFailbackOptions
  extends Omit<LocalFailbackOptions, 'activities' | 'heartbeatOverrides' | 'passStaging'> {
  readonly platform: 'vsphere' | 'manual';
  /** An Activity Task whose agent sent no heartbeat for this long fails (States.HeartbeatTimeout). @default 8000 */
  readonly agentHeartbeatTimeoutMs?: number;
  /** The agent's SendTaskHeartbeat period. @default 1 s */
  readonly agentHeartbeatSeconds?: number;
}

export interface LocalOnPremFailback extends LocalFailback {
  readonly platform: 'vsphere' | 'manual';
  /**
   * Starts the site for these takeover volumes (the manual platform gives each an image file) and its agent. Once
   * per failback; a second call returns the running site.
   */
  startSite(volumeIds: readonly string[]): Promise<OnPremSite>;
  site(): OnPremSite | undefined;
}

export async function startLocalOnPremFailback(options: LocalOnPremFailbackOptions): Promise<LocalOnPremFailback> {
  let site: OnPremSite | undefined;
  let store: S3Client | undefined;
  const heartbeatMs = options.agentHeartbeatTimeoutMs ?? 8000;
  const failback = await startLocalFailback({
    ...options,
    activities: { [AGENT_ACTIVITY_PLACEHOLDER]: AGENT_ACTIVITY_NAME },
    heartbeatOverrides: Object.fromEntries(AGENT_STATES.map((state) => [state, heartbeatMs])),
    passStaging: {
      tasks: PASS_TASKS,
      bucket: ONPREM_STAGING_BUCKET,
      staging: (prefix) => {
        if (!store) throw new OnPremSiteNotStartedError();
        return new S3Staging(store, { bucket: ONPREM_STAGING_BUCKET, prefix });
      },
    },
  });
  return {
    ...failback,
    platform: options.platform,
    site: () => site,
    startSite: async (volumeIds) => {
      if (site) return site;
      site = await startOnPremSite({
        dir: join(options.dir, 'onprem'),
        platform: options.platform,
        cloud: failback.cloud,
        volumeIds,
        heartbeatSeconds: options.agentHeartbeatSeconds ?? 1,
      });
      store = createS3Client({
        endpoint: site.store.s3Endpoint,
        region: site.store.region,
        credentials: site.store.credentials,
      });
      await site.startAgent();
      return site;
    },
    stop: async () => {
      await site?.stop();
      await failback.stop();
    },
  };
}
