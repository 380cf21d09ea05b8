import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { createEbsClient, createS3Client } from '../adapters/aws/clients.js';
import { EbsBlockSource } from '../adapters/aws/ebs-block-source.js';
import { S3Staging } from '../adapters/aws/s3-staging.js';
import { LocalCompute } from '../compute/local-compute.js';
import { gatewayBootstrap } from '../compute/local-gateway-bootstrap.js';
import { volumePath } from '../compute/local-state.js';
import { STACK_TAG } from '../compute/port.js';
import { deriveRunKey } from '../engine/run-key.js';
import { InvalidInputError } from '../errors.js';
import { LocalApprovals } from '../failback/local-approvals.js';
import { type EmfSink, FailbackMetrics } from '../failback/metrics.js';
import type { FailbackDeps, FailbackLaunchSettings } from '../failback/run-state.js';
import { type StreamSplitSettings, streamSplitSettings } from '../failback/stream-split.js';
import { LOCAL_TAKEOVER_TAG } from '../failback/takeover-tag.js';
import { createTaskHandler } from '../failback/task-handler.js';
import { type FailbackTaskName, failbackTasks } from '../failback/tasks.js';
import { type HealthCheckFault, RehearsedHealthFailures } from '../health/rehearsal.js';
import { NoRunCommand } from '../health/run-command.js';
import { HealthCheckRunner, type HostHealthChecker } from '../health/runner.js';
import type { EbsFaults } from '../localcloud/ebs-faults.js';
import { type LocalCloud, startLocalCloud } from '../localcloud/index.js';
import { definitionPath, type FailbackMethod } from '../methods/method.js';
import {
  type LocalRunnerOptions,
  LocalStateMachine,
  type TaskHandler,
  TaskTokenRegistry,
} from '../orchestration/local-runner.js';
import type { BlockSource, Staging } from '../ports.js';

export const LOCAL_STAGING_BUCKET = 'homebound-staging';

/** The local cloud's `homebound:stack` value, standing in for a deployed stack's name. */
export const LOCAL_STACK_TAG = 'homebound-local';

/** Local stand-in for a Lambda's time budget: a long step returns its cursor after about this long. */
const LOCAL_INVOCATION_MS = 120_000;

export interface LocalFailbackOptions {
  /** The method to load: its ASL file, its tasks bound to their handlers (core/methods/registry.ts). */
  readonly method: FailbackMethod;
  /** Everything lives under here: the local cloud, volumes, gateway state. */
  readonly dir: string;
  /** Every Wait state lasts this long instead of its Seconds (polls need not be slow on one machine). @default 200 */
  readonly waitMs?: number;
  /** Pause before every retry instead of the ASL's back-off. @default the ASL's */
  readonly retryIntervalMs?: number;
  /** Handlers by state name that replace the bound ones (a drill's --fail-at, a test's injected fault). */
  readonly stateHandlers?: (bound: (stateName: string) => TaskHandler) => Readonly<Record<string, TaskHandler>>;
  /** Wraps the block source, e.g. to count reads for a progress bar. */
  readonly wrapBlockSource?: (source: BlockSource) => BlockSource;
  /** Lines the sync gateway prints. */
  readonly onGatewayOutput?: (line: string) => void;
  readonly ebsFaults?: EbsFaults;
  /** How StreamPass splits a volume's pass (core/failback/stream-split.ts). @default streamSplitSettings() */
  readonly streamSplit?: Partial<StreamSplitSettings>;
  /** Where the handlers' EMF records go (a test's capture); by default nowhere, so a drill prints none. */
  readonly metricsSink?: EmfSink;
  /** Activity Tasks: ASL placeholder → the local cloud's activity name (`AgentActivityArn` → `homebound-agent`). */
  readonly activities?: Readonly<Record<string, string>>;
  /** HeartbeatSeconds of these states replaced, ms by state name (a drill's agent is judged in seconds). */
  readonly heartbeatOverrides?: Readonly<Record<string, number>>;
  /**
   * Another store for the passes than the cloud's bucket (the conditional-automated method's on-prem store), given
   * to the tasks that write, read or delete them; every other task keeps the cloud's bucket (run records).
   */
  readonly passStaging?: PassStaging;
  /** The deployment's failback launch settings (default subnet and groups, allowed sets). @default none, nothing restricted */
  readonly failbackLaunch?: FailbackLaunchSettings;
  /** Hosts whose health check fails on purpose (the drill's --fail-health-check). @default none */
  readonly healthCheckFaults?: readonly HealthCheckFault[];
}

/** A method's pass store and the tasks that use it (core/wiring/local-onprem.ts). */
export interface PassStaging {
  readonly tasks: readonly FailbackTaskName[];
  readonly bucket: string;
  readonly staging: (prefix: string) => Staging;
}

/** A local cloud with a method loaded on it, every Task bound to the same handlers Lambda runs. */
export interface LocalFailback {
  readonly method: FailbackMethod;
  /** The method's ASL file (absolute path) the machine runs. */
  readonly definition: string;
  readonly cloud: LocalCloud;
  readonly compute: LocalCompute;
  readonly deps: FailbackDeps;
  readonly approvals: LocalApprovals;
  readonly machine: LocalStateMachine;
  /** The Task state names of the definition, for --fail-at. */
  readonly taskStates: readonly string[];
  /** Restarts of each sync gateway process after a crash, by gateway host id (hosts never restarted are absent). */
  readonly gatewayRestarts: ReadonlyMap<string, number>;
  /** The image file behind a local volume. */
  volumePath(volumeId: string): string;
  stop(): Promise<void>;
}

/** Loads the definition twice: plainly bound (to hand tests and drills the real handlers), then with their overrides. */
function loadMachine(
  handlers: Record<string, TaskHandler>,
  taskTokens: TaskTokenRegistry,
  options: LocalFailbackOptions,
  activities: Pick<LocalRunnerOptions, 'activities' | 'activityQueues'>,
  s3: S3Client,
): { machine: LocalStateMachine; taskStates: string[] } {
  const definition = definitionPath(options.method);
  // The local S3 serves the Distributed Maps' ItemReader and ResultWriter, as S3 does on AWS.
  const plain = LocalStateMachine.load({ definition, handlers, taskTokens, s3, ...activities });
  const taskStates = plain.taskStates;
  const bound = (stateName: string): TaskHandler => {
    const handler = plain.handlerFor(stateName);
    if (!handler) throw new InvalidInputError(`"${stateName}" is not a Task state of ${definition}`);
    return handler;
  };
  const stateHandlers = options.stateHandlers?.(bound) ?? {};
  // A state given a handler (a drill's --fail-at on an Activity Task) runs no activity, so it has no heartbeat.
  const heartbeatOverrides = Object.fromEntries(
    Object.entries(options.heartbeatOverrides ?? {}).filter(([state]) => !Object.hasOwn(stateHandlers, state)),
  );
  const machine = LocalStateMachine.load({
    definition,
    handlers,
    taskTokens,
    s3,
    ...activities,
    heartbeatOverrides,
    stateHandlers,
    waitOverrides: Object.fromEntries(
      LocalStateMachine.waitStates(definition).map((name) => [name, options.waitMs ?? 200]),
    ),
    ...(options.retryIntervalMs === undefined
      ? {}
      : { retryIntervalOverrides: Object.fromEntries(taskStates.map((name) => [name, options.retryIntervalMs ?? 0])) }),
  });
  return { machine, taskStates };
}

/**
 * The local stand-in for the stack's gateway-ack secret (Secrets Manager on AWS): 32 random bytes made once per
 * work dir and kept there (owner-only), so a run continued in a later process verifies the acks of its gateway.
 */
async function localGatewayAckSecret(dir: string): Promise<Buffer> {
  const path = join(dir, 'gateway-ack.secret');
  await mkdir(dir, { recursive: true });
  await writeFile(path, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  });
  return Buffer.from((await readFile(path, 'utf8')).trim(), 'hex');
}

/**
 * Health checks in the local cloud: state from LocalCompute, TCP and HTTP probes for real (against whatever listens at
 * a host's address, e.g. a drill's stand-in on loopback), no `ssm` (nothing runs commands on a local host), and the
 * drill's rehearsed failures on top.
 */
function localHealthChecker(faults: readonly HealthCheckFault[]): HostHealthChecker {
  const runner = new HealthCheckRunner({
    runCommand: new NoRunCommand('in the local cloud: its hosts run no SSM Agent'),
  });
  return faults.length > 0 ? new RehearsedHealthFailures(runner, faults) : runner;
}

/** What the Powertools logger and the deadline need from a Lambda context, with the local Task's abort signal. */
function localLambdaContext(name: string, signal: AbortSignal): Context & { signal: AbortSignal } {
  const started = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `homebound-${name}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:homebound-${name}`,
    memoryLimitInMB: '1769',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/homebound-${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, LOCAL_INVOCATION_MS - (Date.now() - started)),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
    signal,
  };
}

/**
 * Starts the local cloud and binds the method's ASL file to its tasks (only those: a placeholder of another task
 * fails the load) over local adapters: the local EBS direct API server and S3 (real SDK clients), LocalCompute whose
 * gateways run `homebound gateway` as their own processes, and local approvals. A method whose passes or Activities
 * need other local services gets them chosen here, next to the AWS wiring (core/wiring/aws.ts).
 */
export async function startLocalFailback(options: LocalFailbackOptions): Promise<LocalFailback> {
  // Checked before anything starts, so a bad setting leaves nothing running.
  const streamSplit = streamSplitSettings(options.streamSplit);
  const cloud = await startLocalCloud({
    dir: join(options.dir, 'cloud'),
    buckets: [LOCAL_STAGING_BUCKET],
    ...(options.ebsFaults ? { ebs: options.ebsFaults } : {}),
  });
  const computeDir = join(options.dir, 'compute');
  const gatewayRestarts = new Map<string, number>();
  const compute = new LocalCompute({
    stateDir: computeDir,
    store: cloud.store,
    // As the deployed functions tag what they create (HOMEBOUND_STACK_TAG), so a drill shows the same tags.
    resourceTags: { [STACK_TAG]: LOCAL_STACK_TAG },
    bootstrap: gatewayBootstrap({
      env: cloud.env(),
      onRestart: (hostId, restarts) => gatewayRestarts.set(hostId, restarts),
      ...(options.onGatewayOutput ? { onOutput: options.onGatewayOutput } : {}),
    }),
  });
  const gatewayAckSecret = await localGatewayAckSecret(options.dir);
  const connection = { endpoint: cloud.ebsEndpoint, region: cloud.region, credentials: cloud.credentials };
  const s3 = createS3Client({ ...connection, endpoint: cloud.s3Endpoint });
  const blockSource = new EbsBlockSource(createEbsClient(connection));
  // Activity Tasks complete through the activity API's registry, so the approvals must share it.
  const taskTokens = options.activities ? cloud.activities.taskTokens : new TaskTokenRegistry();
  const approvals = new LocalApprovals(taskTokens);
  const deps: FailbackDeps = {
    compute,
    blockSource: options.wrapBlockSource ? options.wrapBlockSource(blockSource) : blockSource,
    staging: (prefix) => new S3Staging(s3, { bucket: LOCAL_STAGING_BUCKET, prefix }),
    stagingBucket: LOCAL_STAGING_BUCKET,
    takeoverTag: LOCAL_TAKEOVER_TAG,
    failbackLaunch: options.failbackLaunch,
    approvals,
    gatewayRunKey: async (runId) => deriveRunKey(gatewayAckSecret, runId),
    streamSplit,
    metrics: options.metricsSink ? new FailbackMetrics(options.metricsSink) : FailbackMetrics.disabled(),
    health: localHealthChecker(options.healthCheckFaults ?? []),
    now: () => new Date(),
  };

  const handlers: Record<string, TaskHandler> = {};
  for (const name of options.method.tasks) {
    // The table's entries differ in input type; each handler parses its own input with its own schema.
    const passes = options.passStaging;
    const taskDeps: FailbackDeps =
      passes?.tasks.includes(name) === true
        ? { ...deps, staging: passes.staging, stagingBucket: passes.bucket, recordStaging: deps.staging }
        : deps;
    const lambda = createTaskHandler(name, failbackTasks[name] as never, () => taskDeps);
    handlers[`${name}FunctionArn`] = (input, context) => lambda(input, localLambdaContext(name, context.signal));
  }
  let machine: LocalStateMachine;
  let taskStates: string[];
  try {
    const activities = Object.fromEntries(
      Object.entries(options.activities ?? {}).map(([placeholder, name]) => [
        placeholder,
        cloud.activityArns[name] ?? name,
      ]),
    );
    ({ machine, taskStates } = loadMachine(
      handlers,
      taskTokens,
      options,
      options.activities ? { activities, activityQueues: cloud.activities } : {},
      s3,
    ));
  } catch (error) {
    await compute.close();
    await cloud.stop();
    throw error;
  }
  return {
    method: options.method,
    definition: definitionPath(options.method),
    cloud,
    compute,
    deps,
    approvals,
    machine,
    taskStates,
    gatewayRestarts,
    volumePath: (volumeId) => volumePath(computeDir, volumeId),
    stop: async () => {
      await compute.close();
      await cloud.stop();
    },
  };
}
