import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:HomeboundAutomatedFailback';
const PLAN = {
  method: 'automated',
  hosts: ['i-0123456789abcdef0'],
  target: { platform: 'aws', region: 'eu-west-1' },
};

/**
 * Stands where Step Functions would be (AWS_ENDPOINT_URL_SFN), recording every call: a test proves that a refused
 * plan started nothing, and that the real SDK's request and error shapes reach the CLI. It answers StartExecution
 * with `reply`.
 */
let server: Server;
let calls: { target: string; body: Record<string, unknown> }[];
let reply: { status: number; body: Record<string, unknown> };
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-start-'));
  server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => {
      text += chunk;
    });
    request.on('end', () => {
      calls.push({ target: String(request.headers['x-amz-target']), body: JSON.parse(text || '{}') });
      response.writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  env = {
    AWS_ENDPOINT_URL_SFN: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'local-test-secret',
    AWS_REGION: 'eu-west-1',
    HOMEBOUND_STATE_MACHINE_ARN: ARN,
  };
});
beforeEach(() => {
  calls = [];
  reply = {
    status: 200,
    body: { executionArn: `${ARN.replace(':stateMachine:', ':execution:')}:run-1`, startDate: 1735787045 },
  };
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function plan(name: string, document: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof document === 'string' ? document : JSON.stringify(document));
  return path;
}

describe('homebound start', () => {
  it('starts the run through StartExecution with the validated plan as input', async () => {
    const result = await runCli(['start', '--plan', await plan('ok.json', PLAN), '--name', 'run-1'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(calls.map((call) => call.target)).toEqual(['AWSStepFunctions.StartExecution']);
    expect(calls[0]?.body).toMatchObject({ stateMachineArn: ARN, name: 'run-1' });
    expect(JSON.parse(String(calls[0]?.body.input))).toMatchObject({
      ...PLAN,
      convergence: { thresholdMiB: 64, maxPasses: 10 },
    });
    expect(result.stdout).toContain('started run run-1');
    expect(result.stdout).toContain('homebound status run-1');
  });

  it('refuses a plan with a misspelt field, naming it, and starts nothing', async () => {
    const typo = await plan('typo.json', { ...PLAN, convergence: { thresholdMb: 64 } });
    const result = await runCli(['start', '--plan', typo], env);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('InvalidFailbackRequestError');
    expect(result.stderr).toContain('convergence');
    expect(result.stderr).toContain('thresholdMb');
    expect(calls).toEqual([]);
  });

  it('refuses a plan without a target, and starts nothing', async () => {
    const result = await runCli(['start', '--plan', await plan('no-target.json', { ...PLAN, target: undefined })], env);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('MissingTargetError');
    expect(calls).toEqual([]);
  });

  it('refuses a plan that is not JSON, naming the file', async () => {
    const path = await plan('broken.json', '{ "method": ');
    const result = await runCli(['start', '--plan', path], env);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`--plan ${path} is not JSON`);
    expect(calls).toEqual([]);
  });

  it('says when the run name is taken, and exits non-zero', async () => {
    reply = {
      status: 400,
      body: {
        __type: 'com.amazonaws.swf.service.v2.model#ExecutionAlreadyExists',
        message: 'Execution Already Exists: run-1',
      },
    };
    const result = await runCli(['start', '--plan', await plan('again.json', PLAN), '--name', 'run-1'], env);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('RunAlreadyExistsError: a run named "run-1" exists already');
  });

  it.each([
    ['without --plan', [], /required option '--plan <file>'/],
    [
      'with a run name Step Functions would refuse',
      ['--plan', 'p.json', '--name', 'a b'],
      /--name <runId>' argument 'a b' is invalid/,
    ],
    [
      'with a malformed --state-machine-arn',
      ['--plan', 'p.json', '--state-machine-arn', 'arn:aws:lambda:x'],
      /is not a state machine ARN/,
    ],
  ])('is a usage error %s (exit 2), calling nothing', async (_name, args, message) => {
    const result = await runCli(['start', ...args], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(calls).toEqual([]);
  });
});

describe('homebound status', () => {
  it('refuses a run id Step Functions would refuse, naming it (exit 3), calling nothing', async () => {
    const result = await runCli(['status', 'not a run'], env);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('InvalidInputError: run "not a run"');
    expect(calls).toEqual([]);
  });

  it('refuses a malformed HOMEBOUND_STATE_MACHINE_ARN, naming the variable', async () => {
    const result = await runCli(['status', 'run-1'], {
      ...env,
      HOMEBOUND_STATE_MACHINE_ARN: 'HomeboundAutomatedFailback',
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      'environment variable HOMEBOUND_STATE_MACHINE_ARN "HomeboundAutomatedFailback" is not a state machine ARN',
    );
    expect(calls).toEqual([]);
  });
});
