import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CheckHostHealthInput,
  CheckHostHealthInput as CheckHostHealthSchema,
  checkHostHealth,
} from '../../core/failback/steps/check-host-health.js';
import { createTaskHandler, TaskInputError } from '../../core/failback/task-handler.js';
import { HealthCheckFailedError } from '../../core/health/errors.js';
import { parseHealthCheckFault, RehearsedHealthFailures } from '../../core/health/rehearsal.js';
import type { HostHealthChecker } from '../../core/health/runner.js';
import { automatedMethod } from '../../core/methods/automated.js';
import { LocalStateMachine } from '../../core/orchestration/local-runner.js';
import { type LocalFailback, startLocalFailback } from '../../core/wiring/local.js';
import { waitUntil } from '../compute/local-compute-helpers.js';
import { statesEntered } from '../support/failback.js';

let dir: string;
/** The local cloud with one rehearsed failure: the first host of wave 2 (the drill's --fail-health-check wave:2). */
let env: LocalFailback;
const servers: (Server | HttpServer)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-health-'));
  env = await startLocalFailback({
    method: automatedMethod,
    dir,
    healthCheckFaults: [parseHealthCheckFault('wave:2')],
  });
});

afterAll(async () => {
  await env.stop();
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const server of servers.splice(0)) {
    if ('closeAllConnections' in server) server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(server: Server | HttpServer): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** A failback host launched in the local cloud (running at once) standing for a database or a web server. */
function failbackHost(name: string): Promise<string> {
  return env.compute.runInstance({ role: 'failback', name });
}

/** A database answering on TCP and a web server whose status the test sets. */
async function services() {
  /** `queued` statuses answer the next requests, one each; then `status`. */
  const web = { status: 200, queued: [] as number[] };
  const tcpPort = await listen(createTcpServer((socket) => socket.end()));
  const httpPort = await listen(
    createHttpServer((_request, response) => {
      response.writeHead(web.queued.shift() ?? web.status);
      response.end();
    }),
  );
  return { web, tcpPort, httpPort };
}

const inAMinute = () => new Date(Date.now() + 60_000).toISOString();
const aMinuteAgo = () => new Date(Date.now() - 60_000).toISOString();

/** The step's input as the state machine would pass it, parsed (defaults filled in) as the Task handler does. */
function input(hosts: readonly unknown[], deadline = inAMinute()): CheckHostHealthInput {
  return CheckHostHealthSchema.parse({ runId: 'run-health', hosts, deadline });
}

describe('CheckHostHealth', () => {
  it('reports every host healthy when each check passes, the state check first', async () => {
    const { tcpPort, httpPort } = await services();
    const db = await failbackHost('db');
    const web = await failbackHost('web');
    const result = await checkHostHealth(
      input([
        { hostId: db, address: '127.0.0.1', checks: [{ type: 'tcp', port: tcpPort, timeoutSeconds: 2 }] },
        {
          hostId: web,
          address: '127.0.0.1',
          checks: [{ type: 'http', scheme: 'http', port: httpPort, path: '/health', name: 'web', timeoutSeconds: 2 }],
        },
      ]),
      env.deps,
    );
    expect(result).toMatchObject({ allHealthy: true, pending: false });
    expect(Date.parse(result.checkedAt)).toBeGreaterThan(Date.now() - 10_000);
    expect(result.hosts.map((host) => [host.hostId, host.healthy, host.checks.map((check) => check.name)])).toEqual([
      [db, true, ['state', `tcp:${tcpPort}`]],
      [web, true, ['state', 'web']],
    ]);
    for (const check of result.hosts.flatMap((host) => host.checks)) {
      expect(check).toEqual({
        name: expect.any(String),
        type: expect.stringMatching(/^(state|tcp|http)$/),
        passed: true,
        detail: expect.any(String),
        durationMs: expect.any(Number),
      });
    }
  });

  it('stays pending while a host fails a check before the deadline, and turns healthy once it serves', async () => {
    const { web, httpPort } = await services();
    const host = await failbackHost('web-pending');
    const hosts = [{ hostId: host, address: '127.0.0.1', checks: [{ type: 'http', port: httpPort, path: '/' }] }];
    web.status = 503;
    const first = await checkHostHealth(input(hosts), env.deps);
    expect(first).toMatchObject({ allHealthy: false, pending: true });
    expect(first.hosts[0]?.checks[1]).toMatchObject({
      passed: false,
      detail: `GET http://127.0.0.1:${httpPort}/: 503, expected 200`,
    });
    web.status = 200;
    await expect(checkHostHealth(input(hosts), env.deps)).resolves.toMatchObject({
      allHealthy: true,
      pending: false,
    });
  });

  it('fails with HealthCheckFailedError naming the host and check once the deadline has passed', async () => {
    const { tcpPort } = await services();
    const healthy = await failbackHost('db-ok');
    const stopped = await failbackHost('db-stopped');
    await env.compute.stopInstances([stopped]);
    await waitUntil(async () => (await env.compute.describeHosts({ hostIds: [stopped] }))[0]?.state === 'stopped');
    const hosts = [healthy, stopped].map((hostId) => ({
      hostId,
      address: '127.0.0.1',
      checks: [{ type: 'tcp', port: tcpPort }],
    }));
    const pending = await checkHostHealth(input(hosts), env.deps);
    expect(pending.hosts[1]?.checks).toMatchObject([
      { name: 'state', passed: false, detail: `${stopped} is stopped, not running` },
      { name: `tcp:${tcpPort}`, passed: false, detail: `not run: ${stopped} is not running` },
    ]);

    const deadline = aMinuteAgo();
    const error = await checkHostHealth(input(hosts, deadline), env.deps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HealthCheckFailedError);
    expect(error).toMatchObject({
      name: 'HealthCheckFailedError',
      failed: [
        { hostId: stopped, name: 'state' },
        { hostId: stopped, name: `tcp:${tcpPort}` },
      ],
    });
    expect((error as Error).message).toContain(`host ${stopped} still unhealthy at the deadline ${deadline}`);
    expect((error as Error).message).not.toContain(healthy);
  });

  it('works out the deadline from since and timeoutSeconds, as a state machine passes them', async () => {
    const stopped = await failbackHost('late');
    await env.compute.stopInstances([stopped]);
    await waitUntil(async () => (await env.compute.describeHosts({ hostIds: [stopped] }))[0]?.state === 'stopped');
    const since = new Date(Date.now() - 30_000).toISOString();
    const hosts = [{ hostId: stopped, checks: [] }];
    const parse = (fields: object) => CheckHostHealthSchema.parse({ runId: 'run-health', hosts, ...fields });
    await expect(checkHostHealth(parse({ since, timeoutSeconds: 60 }), env.deps)).resolves.toMatchObject({
      pending: true,
      deadline: new Date(Date.parse(since) + 60_000).toISOString(),
    });
    await expect(checkHostHealth(parse({ since, timeoutSeconds: 10 }), env.deps)).rejects.toThrow(
      HealthCheckFailedError,
    );
    expect(CheckHostHealthSchema.safeParse({ runId: 'r', hosts, since }).error?.issues[0]?.path).toEqual([
      'timeoutSeconds',
    ]);
  });

  it('fails at once when a host is terminated: it cannot come back before the deadline', async () => {
    const gone = await failbackHost('gone');
    await env.compute.terminateInstances([gone]);
    await waitUntil(async () => (await env.compute.describeHosts({ hostIds: [gone] }))[0]?.state === 'terminated');
    await expect(checkHostHealth(input([{ hostId: gone, checks: [] }]), env.deps)).rejects.toThrow(
      HealthCheckFailedError,
    );
  });

  it('fails a rehearsed host of the wave the drill names, and only that one', async () => {
    const { tcpPort } = await services();
    const ids = await Promise.all(['w1', 'w2-a', 'w2-b'].map((name) => failbackHost(name)));
    const hosts = ids.map((hostId, index) => ({
      hostId,
      takeoverHostId: `i-takeover-${index}`,
      wave: index === 0 ? 1 : 2,
      address: '127.0.0.1',
      checks: [{ type: 'tcp', port: tcpPort }],
    }));
    const result = await checkHostHealth(input(hosts), env.deps);
    expect(result.hosts.map((host) => host.healthy)).toEqual([true, false, true]);
    expect(result.hosts[1]?.checks.at(-1)).toMatchObject({
      name: `tcp:${tcpPort}`,
      passed: false,
      detail: expect.stringMatching(
        /^drill: failed on purpose \(--fail-health-check wave:2\); the check itself said: /,
      ),
    });
    expect(result.pending).toBe(true);
  });

  it('reports an ssm check in the local cloud as unsupported', async () => {
    const host = await failbackHost('ssm-local');
    const result = await checkHostHealth(
      input([{ hostId: host, checks: [{ type: 'ssm', parameters: { commands: ['true'] } }] }]),
      env.deps,
    );
    expect(result.hosts[0]?.checks[1]).toMatchObject({
      type: 'ssm',
      passed: false,
      detail: expect.stringContaining('HealthCheckUnsupportedError: ssm checks are not supported in the local cloud'),
    });
  });

  it('as a Task, refuses a tcp check on a host without an address, naming the field', async () => {
    const handler = createTaskHandler(
      'CheckHostHealth',
      { input: CheckHostHealthSchema, run: checkHostHealth },
      () => env.deps,
    );
    const context = { getRemainingTimeInMillis: () => 60_000 } as Context;
    const event = {
      runId: 'run-health',
      deadline: inAMinute(),
      hosts: [{ hostId: 'i-1', checks: [{ type: 'tcp', port: 5432 }] }],
    };
    const error = await handler(event, context).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskInputError);
    expect((error as Error).message).toMatch(/^CheckHostHealth: input field hosts\.0\.address: /);
  });
});

/**
 * The loop a wave's cutover runs (docs/health-checks.md): CheckWaveHealth → CheckWaveHealthDone? → WaitForWaveHealth,
 * and a Catch routing HealthCheckFailedError to the rollback.
 */
const waveHealthLoop = {
  StartAt: 'CheckWaveHealth',
  States: {
    CheckWaveHealth: {
      Type: 'Task',
      // The placeholder CDK's DefinitionSubstitutions fill in, as in statemachines/*.asl.json.
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an ASL placeholder, not a template
      Resource: '${CheckHostHealthFunctionArn}',
      Parameters: {
        'runId.$': '$.runId',
        'hosts.$': '$.hosts',
        'since.$': '$.since',
        'timeoutSeconds.$': '$.timeoutSeconds',
      },
      ResultPath: '$.health',
      TimeoutSeconds: 120,
      Catch: [{ ErrorEquals: ['HealthCheckFailedError'], ResultPath: '$.failure', Next: 'Rollback' }],
      Next: 'CheckWaveHealthDone?',
    },
    'CheckWaveHealthDone?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.health.allHealthy', BooleanEquals: true, Next: 'NextWave' }],
      Default: 'WaitForWaveHealth',
    },
    WaitForWaveHealth: { Type: 'Wait', Seconds: 10, Next: 'CheckWaveHealth' },
    NextWave: { Type: 'Succeed' },
    Rollback: { Type: 'Pass', End: true },
  },
};

function loadWaveHealthLoop() {
  const lambda = createTaskHandler(
    'CheckHostHealth',
    { input: CheckHostHealthSchema, run: checkHostHealth },
    () => env.deps,
  );
  return LocalStateMachine.load({
    definition: waveHealthLoop,
    handlers: {
      CheckHostHealthFunctionArn: (event, context) =>
        lambda(event, { getRemainingTimeInMillis: () => 60_000, signal: context.signal } as unknown as Context),
    },
    waitOverrides: { WaitForWaveHealth: 50 },
  });
}

describe('CheckHostHealth looped by a state machine', () => {
  it('waits until the wave serves, then goes on', async () => {
    const { web, httpPort } = await services();
    const host = await failbackHost('loop-web');
    web.queued.push(503, 503);
    const execution = loadWaveHealthLoop().run({
      runId: 'run-health',
      since: new Date().toISOString(),
      timeoutSeconds: 30,
      hosts: [{ hostId: host, address: '127.0.0.1', checks: [{ type: 'http', port: httpPort, path: '/' }] }],
    });
    const output = (await execution.result) as { health: { allHealthy: boolean } };
    expect(output.health.allHealthy).toBe(true);
    const entered = statesEntered(execution.history);
    expect(entered.at(-1)).toBe('NextWave');
    expect(entered.filter((state) => state === 'CheckWaveHealth')).toHaveLength(3);
  });

  it('rolls back with HealthCheckFailedError when the wave is still unhealthy at its timeout', async () => {
    const { web, httpPort } = await services();
    const host = await failbackHost('loop-down');
    web.status = 503;
    const execution = loadWaveHealthLoop().run({
      runId: 'run-health',
      since: new Date().toISOString(),
      timeoutSeconds: 1,
      hosts: [
        { hostId: host, address: '127.0.0.1', checks: [{ type: 'http', port: httpPort, path: '/', name: 'web' }] },
      ],
    });
    const output = (await execution.result) as { failure: { Error: string; Cause: string } };
    expect(statesEntered(execution.history).at(-1)).toBe('Rollback');
    expect(output.failure.Error).toBe('HealthCheckFailedError');
    expect(output.failure.Cause).toContain(`${host} web: GET http://127.0.0.1:${httpPort}/: 503, expected 200`);
  });
});

describe('--fail-health-check', () => {
  it('fails the host named by its failback or takeover host id', async () => {
    const passing: HostHealthChecker = {
      checkHosts: async (hosts) =>
        hosts.map((host) => ({
          hostId: host.hostId,
          healthy: true,
          state: 'running',
          checks: [{ name: 'state', type: 'state', passed: true, detail: 'running', durationMs: 0 }],
        })),
    };
    const context = { hostStates: async () => ({}), deadline: Date.now() + 1000 };
    const hosts = [
      { hostId: 'i-fb-1', takeoverHostId: 'i-to-1', checks: [] },
      { hostId: 'i-fb-2', takeoverHostId: 'i-to-2', checks: [] },
    ];
    for (const named of ['i-to-2', 'i-fb-2']) {
      const results = await new RehearsedHealthFailures(passing, [parseHealthCheckFault(named)]).checkHosts(
        hosts,
        context,
      );
      expect(results.map((host) => host.healthy)).toEqual([true, false]);
      expect(results[1]?.checks).toMatchObject([{ name: 'state', passed: false }]);
    }
  });

  it('reads a host id or wave:K, and refuses anything else naming the option', () => {
    expect(parseHealthCheckFault('i-0abc')).toEqual({ host: 'i-0abc' });
    expect(parseHealthCheckFault('wave:3')).toEqual({ wave: 3 });
    expect(() => parseHealthCheckFault('wave:0')).toThrow(/^--fail-health-check: "wave:0" is no wave/);
    expect(() => parseHealthCheckFault('')).toThrow(/^--fail-health-check: give a host id or wave:K/);
  });
});
