import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { SFNClient } from '@aws-sdk/client-sfn';
import { type Command, InvalidArgumentError } from 'commander';
import { awsConfigurationError } from '../../core/adapters/aws/aws-configuration.js';
import { createS3Client } from '../../core/adapters/aws/clients.js';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import { runActivityWorker, type WorkerEvent } from '../../core/agent/activity-worker.js';
import { type AgentConfig, AgentConfigError, parseAgentConfig } from '../../core/agent/config.js';
import { type FollowerEvent, RunFollower } from '../../core/agent/follower.js';
import { handleOperation } from '../../core/agent/handle-operation.js';
import { createPlatform } from '../../core/agent/platforms.js';
import { RunStore } from '../../core/agent/run-store.js';
import { writableDir } from '../paths.js';
import { describeGatewayEvent } from './gateway.js';

/** GetActivityTask holds the connection up to 60 s; the socket must outlast that. */
const POLL_REQUEST_TIMEOUT_MS = 75_000;

/**
 * `homebound agent`: the on-prem agent (docs/agent.md). Works on the tasks of the homebound Step Functions activity
 * for its target platform, and follows every prepared run's staging like a sync gateway, until SIGTERM/SIGINT.
 */
export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('Run the on-prem agent: answer the homebound activity and apply staged passes until SIGTERM')
    .requiredOption('--config <file>', 'agent config (JSON, homebound.agent/v1; docs/agent.md)')
    .action(async (options: { config: string }) => {
      const config = await readConfig(options.config);
      await writableDir('stateDir', config.stateDir);
      const platform = await createPlatform(config.platform);
      const s3 = createS3Client({
        region: config.staging.region ?? config.region,
        endpoint: config.staging.endpoint,
        forcePathStyle: config.staging.forcePathStyle,
        profile: config.staging.profile,
      });
      const store = await RunStore.open(config.stateDir);
      const stagingAt = (prefix: string) => new S3Staging(s3, { bucket: config.staging.bucket, prefix });
      const follower = new RunFollower({
        stagingAt,
        bucket: config.staging.bucket,
        stateDir: config.stateDir,
        pollMs: config.pollMs,
        onEvent: (event) => log(describeFollower(event)),
      });
      const stop = new AbortController();
      const onSignal = (name: string) => () => {
        log(`${name}: stopping`);
        stop.abort();
      };
      const onTerm = onSignal('SIGTERM');
      const onInt = onSignal('SIGINT');
      process.once('SIGTERM', onTerm);
      process.once('SIGINT', onInt);
      log(`platform ${platform.kind}, staging ${config.staging.bucket}, state ${config.stateDir}`);
      try {
        for (const record of await store.list()) if (record.following) follower.follow(record);
        await runActivityWorker({
          client: sfnClient(config),
          activityArn: config.activityArn,
          workerName: config.workerName,
          heartbeatSeconds: config.heartbeatSeconds,
          maxConcurrentTasks: config.maxConcurrentTasks,
          work: (input, signal) =>
            handleOperation({ platform, store, follower, stateDir: config.stateDir, stagingAt }, input, signal),
          signal: stop.signal,
          onEvent: (event) => log(describeWorker(event)),
        });
      } finally {
        await follower.stopAll();
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onInt);
      }
      log('stopped');
    });
}

/** Reads and parses the config; a missing file or a wrong field is a usage error (exit 2) naming it. */
async function readConfig(path: string): Promise<AgentConfig> {
  const text = await readFile(path, 'utf8').catch((error: unknown) => {
    throw new InvalidArgumentError(`cannot read --config ${path}: ${(error as Error).message}`);
  });
  try {
    return parseAgentConfig(text);
  } catch (error) {
    if (error instanceof AgentConfigError) throw new InvalidArgumentError(`${path}: ${error.message}`);
    throw error;
  }
}

function sfnClient(config: AgentConfig): SFNClient {
  return new SFNClient({
    region: config.region,
    ...(config.sfnEndpoint === undefined ? {} : { endpoint: config.sfnEndpoint }),
    ...(config.profile === undefined ? {} : { profile: config.profile }),
    requestHandler: {
      connectionTimeout: 10_000,
      requestTimeout: POLL_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
      httpAgent: new HttpAgent({ keepAlive: true }),
      httpsAgent: new HttpsAgent({ keepAlive: true }),
    },
  });
}

function describeWorker(event: WorkerEvent): string {
  switch (event.type) {
    case 'polling':
      return `polling ${event.activityArn} as ${event.workerName}`;
    case 'poll-failed':
      // Missing credentials or Region read as themselves, not as an SDK stack; the agent keeps trying either way.
      return `GetActivityTask failed (retrying in ${event.retryInMs} ms): ${errorText(awsConfigurationError(event.error, { purpose: 'GetActivityTask' }) ?? event.error)}`;
    case 'task-started':
      return `${event.runId}: ${event.operation} started`;
    case 'task-succeeded':
      return `${event.runId}: ${event.operation} succeeded in ${event.seconds.toFixed(2)} s`;
    case 'task-failed':
      return `${event.runId}: ${event.operation} failed with ${event.error}: ${event.cause}`;
    case 'task-abandoned':
      return `${event.runId}: ${event.operation} abandoned: the state gave up on it (${event.reason})`;
    case 'heartbeat-failed':
      return `${event.operation}: SendTaskHeartbeat failed (retrying at the next): ${errorText(event.error)}`;
    case 'answer-failed':
      return `${event.operation}: could not send the task's answer: ${errorText(event.error)}`;
  }
}

function describeFollower(event: FollowerEvent): string {
  switch (event.type) {
    case 'gateway':
      return `${event.runId}: ${describeGatewayEvent(event.event)}`;
    case 'following':
      return `${event.runId}: following ${event.volumes} volume(s) at ${event.staging}`;
    case 'stopped-following':
      return `${event.runId}: stopped following`;
    case 'follow-failed':
      return `${event.runId}: following failed (${errorText(event.error)}); again in ${event.retryInMs} ms`;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function log(line: string): void {
  console.error(`homebound agent: ${line}`);
}
