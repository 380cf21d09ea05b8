import { describe, expect, it } from 'vitest';
import { readConfig } from '../../lib/config.js';
import { getAttLogicalId, type Resources, resourcesOf, statementsOf, synthesizeHomebound } from './synth.js';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: { AWS?: unknown };
  Condition?: Record<string, Record<string, unknown>>;
}
const actionsOf = (statement: Statement) => [statement.Action].flat();

const STORE = {
  'homebound:onPremStagingEndpoint': 'https://s3.dc1.example:9000',
  'homebound:onPremStagingBucket': 'homebound-staging',
};
/** The conditional-automated method's own functions that write, read and delete a run's staged passes. */
const STAGING_TASKS = ['StreamPassOnPrem', 'CheckAppliedOnPrem', 'CleanUpOnPrem'];

const { stack, template } = synthesizeHomebound(STORE);
const resources = template.toJSON().Resources as Resources;
const secretId = stack.resolve(stack.onPremStaging?.secret.secretArn).Ref as string;
const functions = Object.entries(resourcesOf(template, 'AWS::Lambda::Function'));
/** `StreamPass` of `FailbackFunctionsStreamPassFunction1A2B…`, undefined for functions that are no failback task. */
const taskOf = (logicalId: string) => /^FailbackFunctions([A-Za-z]+?)(Function|Role)[0-9A-F]{8}/.exec(logicalId)?.[1];

describe('an on-prem S3-compatible staging store (homebound:onPremStaging*)', () => {
  it("is configured in the environment of the conditional method's own StreamPass, CheckApplied and CleanUp only", () => {
    const configured = functions
      .filter(([, fn]) => JSON.stringify(fn.Properties.Environment).includes('HOMEBOUND_ONPREM_STAGING_ENDPOINT'))
      .map(([id]) => taskOf(id));
    expect(new Set(configured)).toEqual(new Set(STAGING_TASKS));
    const streamPass = functions.find(([id]) => taskOf(id) === 'StreamPassOnPrem')?.[1];
    const environment = streamPass?.Properties.Environment as { Variables: Record<string, unknown> } | undefined;
    expect(environment?.Variables).toMatchObject({
      HOMEBOUND_ONPREM_STAGING_ENDPOINT: 'https://s3.dc1.example:9000',
      HOMEBOUND_ONPREM_STAGING_BUCKET: 'homebound-staging',
      HOMEBOUND_ONPREM_STAGING_FORCE_PATH_STYLE: 'true',
      HOMEBOUND_ONPREM_STAGING_REGION: 'us-east-1',
      HOMEBOUND_ONPREM_STAGING_CREDENTIALS_SECRET_ARN: { Ref: secretId },
    });
  });

  it("stages the conditional method's passes there; the automated method keeps the stack's bucket its gateways read", () => {
    const machines = resourcesOf(template, 'AWS::StepFunctions::StateMachine');
    const taskBinding = (method: 'automated' | 'conditional-automated', placeholder: string) => {
      const ref = stack.resolve(stack.failbackStateMachines[method].stateMachine.stateMachineArn).Ref as string;
      const substitutions = machines[ref]?.Properties.DefinitionSubstitutions as Record<string, unknown> | undefined;
      return taskOf(getAttLogicalId(substitutions?.[placeholder]));
    };
    for (const task of ['StreamPass', 'CheckApplied', 'CleanUp']) {
      expect(taskBinding('conditional-automated', `${task}FunctionArn`)).toBe(`${task}OnPrem`);
      expect(taskBinding('automated', `${task}FunctionArn`)).toBe(task);
    }
    expect(taskBinding('conditional-automated', 'RecordPassFunctionArn')).toBe('RecordPass');
  });

  it("lets the conditional method's CheckApplied verify the agent's MACs (the gateway-ack secret)", () => {
    const checkApplied = functions.find(([id]) => taskOf(id) === 'CheckAppliedOnPrem')?.[1];
    expect(JSON.stringify(checkApplied?.Properties.Environment)).toContain('HOMEBOUND_GATEWAY_ACK_SECRET_ARN');
  });

  it("keeps the store's key pair in a secret the stack creates, encrypted with the approvals key", () => {
    const secret = resourcesOf(template, 'AWS::SecretsManager::Secret')[secretId];
    expect(JSON.stringify(secret?.Properties.KmsKeyId)).toMatch(/ApprovalsKey/);
    expect(Object.keys(template.findOutputs('OnPremStagingCredentialsSecretArn'))).toHaveLength(1);
  });

  it('lets only the three staging functions read the secret (GetSecretValue), each decrypting it through Secrets Manager', () => {
    const readers = Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Policy')
      .filter(([, policy]) =>
        (statementsOf(policy.Properties.PolicyDocument) as unknown as Statement[]).some(
          (s) =>
            actionsOf(s).includes('secretsmanager:GetSecretValue') &&
            String(JSON.stringify(s.Resource)).includes(secretId),
        ),
      )
      .flatMap(([, policy]) => (policy.Properties.Roles as { Ref: string }[]).map((role) => taskOf(role.Ref)));
    expect(new Set(readers)).toEqual(new Set(STAGING_TASKS));
    expect(readers).toHaveLength(3);

    const key = Object.entries(resourcesOf(template, 'AWS::KMS::Key')).find(([id]) => id.startsWith('ApprovalsKey'));
    const viaSecretsManager = (statementsOf(key?.[1].Properties.KeyPolicy) as unknown as Statement[]).filter(
      (s) => String(JSON.stringify(s.Condition)).includes('secretsmanager.') && s.Principal?.AWS !== undefined,
    );
    const decrypters = viaSecretsManager
      .map((s) => JSON.stringify(s.Principal?.AWS))
      .flatMap((principal) => [...principal.matchAll(/"(FailbackFunctions\w+?Role[0-9A-F]{8})"/g)])
      .map((match) => taskOf(match[1] ?? ''));
    // The key also decrypts the approval secrets for RequestApproval; GetSecretValue (above) is what names this one.
    expect(decrypters).toEqual(expect.arrayContaining(STAGING_TASKS));
  });

  it("gives the agent's policy nothing on the stack's bucket: the agent uses the store's own keys", () => {
    const policy = Object.entries(resourcesOf(template, 'AWS::IAM::ManagedPolicy')).find(([id]) =>
      id.startsWith('AgentPolicy'),
    );
    const actions = (statementsOf(policy?.[1].Properties.PolicyDocument) as unknown as Statement[]).flatMap(actionsOf);
    expect(actions.filter((a) => a.startsWith('s3:') || a.startsWith('kms:'))).toEqual([]);
    expect(actions).toContain('states:GetActivityTask');
  });

  it('reads a secret given by ARN instead of creating one', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:onprem-store-AbCdEf';
    const given = synthesizeHomebound({ ...STORE, 'homebound:onPremStagingCredentialsSecretArn': arn });
    expect(resourcesOf(given.template, 'AWS::SecretsManager::Secret')).not.toHaveProperty(
      given.stack.resolve(given.stack.onPremStaging?.secret.secretArn)?.Ref ?? 'none',
    );
    expect(given.stack.onPremStaging?.secret.secretArn).toBe(arn);
    expect(JSON.stringify(given.template.toJSON())).toContain(arn);
  });
});

describe('on-prem staging configuration', () => {
  const base = {
    'homebound:availabilityZone': 'eu-west-1a',
    'homebound:subnetId': 'subnet-0123abcd',
    'homebound:imageId': 'ami-0123456789abcdef0',
    'homebound:instanceType': 'm7g.large',
    'homebound:takeoverTag': 'homebound:takeover=true',
  } as Record<string, unknown>;
  const read = (extra: Record<string, unknown>) => readConfig((key) => ({ ...base, ...extra })[key]);

  it('refuses a store reached over plain http (staged blocks would cross the network in clear)', () => {
    expect(() => read({ ...STORE, 'homebound:onPremStagingEndpoint': 'http://s3.dc1.example:9000' })).toThrow(
      /homebound:onPremStagingEndpoint: an https:\/\/ URL/,
    );
  });

  it('refuses an endpoint without its bucket, and a bucket without an endpoint', () => {
    expect(() => read({ 'homebound:onPremStagingEndpoint': 'https://s3.dc1.example' })).toThrow(
      /homebound:onPremStagingBucket: required/,
    );
    expect(() => read({ 'homebound:onPremStagingBucket': 'b-1' })).toThrow(/homebound:onPremStagingEndpoint: required/);
  });

  it('takes path-style addressing off with "false" from -c', () => {
    expect(read({ ...STORE, 'homebound:onPremStagingForcePathStyle': 'false' }).onPremStagingForcePathStyle).toBe(
      false,
    );
    expect(read(STORE).onPremStagingForcePathStyle).toBe(true);
  });

  it('refuses both a CA certificate and a trust anchor ARN', () => {
    expect(() =>
      read({
        'homebound:agentCaCertificate': 'ca.pem',
        'homebound:agentTrustAnchorArn': 'arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/0f1e2d3c',
      }),
    ).toThrow(/homebound:agentTrustAnchorArn: give either it or homebound:agentCaCertificate/);
  });
});
