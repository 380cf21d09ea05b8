import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_CONFIG_FORMAT } from '../../core/agent/config.js';
import type { ActivityQueues } from '../../core/orchestration/activity-queues.js';
import type { JsonObject } from '../../core/orchestration/json.js';
import { collectOutput } from '../gateway/helpers.js';
import { startCli } from '../support/cli.js';
import { STAGING_BUCKET, type TestCloud } from '../support/local-cloud.js';

/** An agent config for the test cloud: its activity, its staging bucket, a manual platform with these disks. */
export function agentConfig(
  test: TestCloud,
  stateDir: string,
  disks: Record<string, { path: string; create?: boolean }>,
): Record<string, unknown> {
  const activityArn = Object.values(test.cloud.activityArns)[0];
  return {
    format: AGENT_CONFIG_FORMAT,
    region: test.cloud.region,
    activityArn,
    sfnEndpoint: test.cloud.sfnEndpoint,
    staging: { bucket: STAGING_BUCKET, endpoint: test.cloud.s3Endpoint },
    stateDir,
    workerName: 'test-agent',
    heartbeatSeconds: 1,
    pollMs: 50,
    platform: { type: 'manual', disks },
  };
}

/** Writes the config and starts `homebound agent --config` as its own process with the test cloud's credentials. */
export async function startAgent(test: TestCloud, dir: string, config: Record<string, unknown>) {
  const path = join(dir, 'agent.json');
  await writeFile(path, JSON.stringify(config));
  const agent = startCli(['agent', '--config', path], test.cloud.env());
  const stderr = collectOutput(agent.child.stderr);
  return { ...agent, stderr, configPath: path };
}

/** Puts an operation on the agent's activity, as an Activity Task state would, and returns its completion. */
export function scheduleOperation(activities: ActivityQueues, activityArn: string, input: JsonObject) {
  return activities.schedule({
    activityArn,
    input: { ...input },
    executionName: String(input.runId ?? 'run'),
    stateName: String(input.operation ?? 'Agent'),
    heartbeatMs: 10_000,
  }).completion;
}
