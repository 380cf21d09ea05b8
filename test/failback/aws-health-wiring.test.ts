import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { parseHealthChecks } from '../../core/health/checks.js';
import type { HealthCheckContext } from '../../core/health/runner.js';
import { awsFailbackDeps } from '../../core/wiring/aws.js';

/*
 * The local cloud serves no SSM, so the real SSMClient is stubbed with aws-sdk-client-mock: what is checked is that
 * the AWS wiring's health runner sends an `ssm` check through Run Command, with the host and the document.
 */

const ENVIRONMENT = {
  HOMEBOUND_STAGING_BUCKET: 'homebound-staging',
  HOMEBOUND_AVAILABILITY_ZONE: 'eu-west-1a',
  HOMEBOUND_SUBNET_ID: 'subnet-0123abcd',
  HOMEBOUND_IMAGE_ID: 'ami-0123456789abcdef0',
  HOMEBOUND_INSTANCE_TYPE: 'm7g.large',
  HOMEBOUND_STACK_TAG: 'Homebound',
  HOMEBOUND_TAKEOVER_TAG: 'dr=takeover',
  HOMEBOUND_GATEWAY_SECURITY_GROUP_ID: 'sg-0123abcd',
  HOMEBOUND_GATEWAY_ARTIFACT_URI: 's3://cdk-assets/0123abcd.mjs',
  HOMEBOUND_GATEWAY_ARTIFACT_SHA256: '0'.repeat(64),
  HOMEBOUND_INSTANCE_ARN_PREFIX: 'arn:aws:ec2:eu-west-1:123456789012:instance/',
};

const HOST = 'i-0123456789abcdef0';
const checks = parseHealthChecks([
  { type: 'ssm', document: 'AWS-RunShellScript', parameters: { commands: ['pg_isready -q'] }, timeoutSeconds: 30 },
]);
const context = (): HealthCheckContext => ({
  hostStates: async () => ({ [HOST]: 'running' }),
  deadline: Date.now() + 20_000,
});

describe('the AWS wiring of health checks', () => {
  const ssm = mockClient(SSMClient);
  afterEach(() => ssm.reset());

  it('runs an ssm check through SSM Run Command: SendCommand with the instance and document, then its invocation', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', ResponseCode: 0, StandardOutputContent: '' });
    const { health } = awsFailbackDeps(ENVIRONMENT);

    const [host] = (await health?.checkHosts([{ hostId: HOST, checks }], context())) ?? [];

    expect(host).toMatchObject({ hostId: HOST, healthy: true });
    expect(host?.checks.map((check) => [check.name, check.passed])).toEqual([
      ['state', true],
      ['ssm:AWS-RunShellScript', true],
    ]);
    const [send] = ssm.commandCalls(SendCommandCommand);
    expect(send?.args[0].input).toMatchObject({
      InstanceIds: [HOST],
      DocumentName: 'AWS-RunShellScript',
      Parameters: { commands: ['pg_isready -q'] },
      TimeoutSeconds: 30,
    });
    expect(ssm.commandCalls(GetCommandInvocationCommand)[0]?.args[0].input).toEqual({
      CommandId: 'cmd-1',
      InstanceId: HOST,
    });
  });

  it('reports a SendCommand that IAM refuses as a failed check saying which permission', async () => {
    ssm.on(SendCommandCommand).rejects(
      Object.assign(new Error('not authorized to perform: ssm:SendCommand'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const { health } = awsFailbackDeps(ENVIRONMENT);

    const [host] = (await health?.checkHosts([{ hostId: HOST, checks }], context())) ?? [];

    expect(host?.healthy).toBe(false);
    expect(host?.checks[1]?.detail).toMatch(/not sent: .*denied by IAM \(grant ssm:SendCommand\)/);
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toEqual([]);
  });
});
