import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsCredentialsMissingError, AwsRegionMissingError } from '../../core/adapters/aws/aws-configuration.js';
import { mapSfnError } from '../../core/adapters/aws/sfn-errors.js';
import { stateMachineArnFromStack } from '../../core/adapters/aws/stack-outputs.js';
import { automatedMethod } from '../../core/methods/automated.js';
import { type CliResult, runCli } from '../support/cli.js';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:HomeboundAutomatedFailback';

/**
 * An operator's first try without AWS set up: no AWS_* variables, HOME an empty directory (no ~/.aws), no instance
 * metadata. Every command says which variable to set, exits 3, and never calls it transient.
 */
let home: string;
let plan: string;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'hb-no-aws-'));
  plan = join(home, 'plan.json');
  await writeFile(
    plan,
    JSON.stringify({
      method: 'automated',
      hosts: ['i-0123456789abcdef0'],
      target: { platform: 'aws', region: 'eu-west-1' },
    }),
  );
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

/** Runs the CLI with nothing of this machine's AWS configuration: only PATH, HOME and `extra`. */
function runBare(args: readonly string[], extra: Record<string, string> = {}): Promise<CliResult> {
  const env = { PATH: process.env.PATH ?? '', HOME: home, AWS_EC2_METADATA_DISABLED: 'true', ...extra };
  return runCli(args, env, { bareEnv: true });
}

function expectOneNamedLine(result: CliResult, name: string): string {
  expect(result.code, result.stderr).toBe(3);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^homebound: ${name}: `));
  expect(result.stderr).not.toContain('    at ');
  expect(result.stderr).not.toMatch(/transient|CredentialsProviderError|Region is missing/i);
  return lines[0] ?? '';
}

describe('without a Region', () => {
  it.each([
    ['start', () => ['start', '--plan', plan]],
    ['status', () => ['status']],
  ])('%s names AWS_REGION and --state-machine-arn (exit 3)', async (_name, args) => {
    const line = expectOneNamedLine(await runBare(args()), 'AwsRegionMissingError');
    expect(line).toContain('set AWS_REGION');
    expect(line).toContain('--state-machine-arn');
  });

  it('stream names AWS_REGION before reading anything', async () => {
    const args = ['stream', '--volume-key', 'vol-a', '--pass', '1', '--snapshot', 'snap-0123456789abcdef0'];
    const line = expectOneNamedLine(await runBare([...args, '--bucket', 'homebound-staging']), 'AwsRegionMissingError');
    expect(line).toContain('set AWS_REGION');
  });
});

describe('without credentials', () => {
  it.each([
    ['start --state-machine-arn', () => ['start', '--plan', plan, '--state-machine-arn', ARN]],
    ['status --state-machine-arn', () => ['status', '--state-machine-arn', ARN]],
    ['status (stack lookup)', () => ['status']],
  ])('%s names AWS_PROFILE and the keys, not "transient" (exit 3)', async (_name, args) => {
    const line = expectOneNamedLine(await runBare(args(), { AWS_REGION: 'eu-west-1' }), 'AwsCredentialsMissingError');
    expect(line).toContain('Set AWS_PROFILE');
    expect(line).toContain('AWS_ACCESS_KEY_ID');
  });

  it('names the profile AWS_PROFILE chose when it gives none', async () => {
    const result = await runBare(['status'], { AWS_REGION: 'eu-west-1', AWS_PROFILE: 'prod-failback' });
    const line = expectOneNamedLine(result, 'AwsCredentialsMissingError');
    expect(line).toContain('profile "prod-failback" (AWS_PROFILE) gave none');
  });
});

describe('mapSfnError', () => {
  it('maps the credential chain running dry to AwsCredentialsMissingError, never TransientError', () => {
    // The SDK's CredentialsProviderError carries no HTTP status, which the mapping reads as a 5xx-like failure.
    const sdkError = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    const mapped = mapSfnError(sdkError, { operation: 'StartExecution', target: ARN });
    expect(mapped).toBeInstanceOf(AwsCredentialsMissingError);
    expect(mapped.message).toContain('StartExecution on');
  });
});

describe('stateMachineArnFromStack', () => {
  it('maps the SDK\'s "Region is missing" to AwsRegionMissingError offering --state-machine-arn', async () => {
    const cloudFormation = mockClient(CloudFormationClient);
    try {
      cloudFormation.on(DescribeStacksCommand).rejects(new Error('Region is missing'));
      const lookup = stateMachineArnFromStack(
        new CloudFormationClient({ region: 'eu-west-1' }),
        'Homebound',
        automatedMethod,
      );
      await expect(lookup).rejects.toBeInstanceOf(AwsRegionMissingError);
      await expect(lookup).rejects.toThrow(/DescribeStacks on Homebound: set AWS_REGION.*or pass --state-machine-arn/);
    } finally {
      cloudFormation.restore();
    }
  });
});
