import { readFileSync } from 'node:fs';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app-function.js';
import { readConfig } from '../../lib/config.js';
import { getAttLogicalId, type Resources, resourcesOf, statementsOf, synthesizeHomebound } from './synth.js';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** The failback hosts' groups and one document of the account's own, as an operator would configure them. */
const { stack, template } = synthesizeHomebound({
  'homebound:securityGroupIds': 'sg-0a110000,sg-0b220000',
  'homebound:healthCheckDocuments': 'MyApp-HealthCheck',
});
const STACK = stack.stackName;

const policies = resourcesOf(template, 'AWS::IAM::Policy');
/** The statements of the policies attached to roles whose logical id starts with `rolePrefix`. */
function statementsOfRole(rolePrefix: string): Statement[] {
  return Object.values(policies)
    .filter((policy) =>
      ((policy.Properties.Roles ?? []) as { Ref: string }[]).some((role) => role.Ref.startsWith(rolePrefix)),
    )
    .flatMap((policy) => statementsOf(policy.Properties.PolicyDocument) as unknown as Statement[]);
}
const actionsOf = (statement: Statement) => [statement.Action].flat();
const withAction = (statements: Statement[], action: string) =>
  statements.filter((statement) => actionsOf(statement).includes(action));

const healthStatements = statementsOfRole('FailbackFunctionsCheckHostHealthRole');
const functions = Object.entries(resourcesOf(template, 'AWS::Lambda::Function'));
const [healthFunctionId, healthFunction] =
  functions.find(([id]) => id.startsWith('FailbackFunctionsCheckHostHealthFunction')) ?? [];
const groups: Resources = resourcesOf(template, 'AWS::EC2::SecurityGroup');

describe('CheckHostHealth IAM', () => {
  it('sends commands only to this stack’s failback hosts, by the SSM resource tag keys', () => {
    const toInstances = withAction(healthStatements, 'ssm:SendCommand').filter(
      (s) => s.Effect === 'Allow' && JSON.stringify(s.Resource).includes(':instance/'),
    );
    expect(toInstances).toHaveLength(1);
    expect(JSON.stringify(toInstances[0]?.Resource)).toMatch(/:ec2:eu-west-1:123456789012:instance\/\*"/);
    expect(toInstances[0]?.Condition).toEqual({
      StringEquals: { 'ssm:resourceTag/homebound:stack': STACK, 'ssm:resourceTag/homebound:role': 'failback' },
    });
  });

  it('sends only AWS-RunShellScript, AWS-RunPowerShellScript and the configured documents of the account', () => {
    const documents = withAction(healthStatements, 'ssm:SendCommand').filter((s) =>
      JSON.stringify(s.Resource).includes(':document/'),
    );
    expect(documents).toHaveLength(1);
    expect(documents[0]?.Condition).toBeUndefined();
    const arns = [documents[0]?.Resource].flat().map((arn) => JSON.stringify(arn));
    expect(arns).toHaveLength(3);
    expect(arns).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/:ssm:eu-west-1::document\/AWS-RunShellScript"/),
        expect.stringMatching(/:ssm:eu-west-1::document\/AWS-RunPowerShellScript"/),
        expect.stringMatching(/:ssm:eu-west-1:123456789012:document\/MyApp-HealthCheck"/),
      ]),
    );
  });

  it('never sends a command to a handed-over (live) host', () => {
    const denies = withAction(healthStatements, 'ssm:SendCommand').filter((s) => s.Effect === 'Deny');
    expect(denies).toEqual([
      expect.objectContaining({ Condition: { StringEquals: { 'ssm:resourceTag/homebound:state': 'live' } } }),
    ]);
  });

  it('grants no ssm:*, SendCommand never on Resource *, and * only to the calls without resource types', () => {
    const ssmStatements = healthStatements.filter((s) => actionsOf(s).some((a) => a.startsWith('ssm:')));
    expect(ssmStatements.flatMap(actionsOf).filter((a) => a.includes('*'))).toEqual([]);
    for (const statement of withAction(ssmStatements, 'ssm:SendCommand')) {
      expect([statement.Resource].flat()).not.toContain('*');
    }
    // CDK merges statements of the same resources, so the Describe* on * may share the statement.
    const everywhere = ssmStatements.filter((s) => s.Effect === 'Allow' && s.Resource === '*');
    expect(
      everywhere
        .flatMap(actionsOf)
        .filter((a) => a.startsWith('ssm:'))
        .sort(),
    ).toEqual(['ssm:CancelCommand', 'ssm:GetCommandInvocation']);
  });

  it('is the only failback role allowed any SSM action', () => {
    const holders = Object.values(policies)
      .filter((policy) =>
        (statementsOf(policy.Properties.PolicyDocument) as unknown as Statement[]).some(
          (s) => s.Effect === 'Allow' && actionsOf(s).some((a) => a.startsWith('ssm:')),
        ),
      )
      .flatMap((policy) => (policy.Properties.Roles as { Ref: string }[]).map((role) => role.Ref));
    expect(holders).toEqual([expect.stringMatching(/^FailbackFunctionsCheckHostHealthRole/)]);
  });
});

describe('CheckHostHealth in the VPC', () => {
  const healthGroupId = Object.keys(groups).find((id) => id.startsWith('HealthCheckSecurityGroup'));

  it('runs in the configured subnet with the health-check group; no other failback function is in a VPC', () => {
    expect(healthFunction?.Properties.VpcConfig).toEqual({
      SubnetIds: ['subnet-00000000000000000'],
      SecurityGroupIds: [{ 'Fn::GetAtt': [healthGroupId, 'GroupId'] }],
    });
    const inVpc = functions.filter(([, fn]) => fn.Properties.VpcConfig !== undefined).map(([id]) => id);
    expect(inVpc).toEqual([healthFunctionId]);
  });

  it('has a group in the configured VPC with no ingress, TCP out to the failback hosts’ groups and HTTPS out', () => {
    const group = groups[healthGroupId ?? '']?.Properties;
    expect(group?.VpcId).toBe('vpc-00000000000000000');
    expect(group?.SecurityGroupIngress).toBeUndefined();
    expect(group?.SecurityGroupEgress).toEqual([
      { CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Description: expect.any(String) },
      ...['sg-0a110000', 'sg-0b220000'].map((id) => ({
        DestinationSecurityGroupId: id,
        IpProtocol: 'tcp',
        FromPort: 0,
        ToPort: 65535,
        Description: expect.stringContaining(id),
      })),
    ]);
    expect(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')).toEqual({});
  });

  it('lets Lambda create its network interfaces only in that subnet and group, and denies ENI changes to the code', () => {
    const create = withAction(healthStatements, 'ec2:CreateNetworkInterface').filter((s) => s.Effect === 'Allow');
    expect(create).toHaveLength(1);
    const resources = [create[0]?.Resource].flat().map((r) => JSON.stringify(r));
    expect(resources).toHaveLength(3);
    expect(resources).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/:network-interface\/\*"/),
        expect.stringMatching(/:subnet\/subnet-00000000000000000"/),
        expect.stringMatching(new RegExp(`:security-group/",\\{"Fn::GetAtt":\\["${healthGroupId}"`)),
      ]),
    );
    const denies = withAction(healthStatements, 'ec2:DeleteNetworkInterface').filter((s) => s.Effect === 'Deny');
    expect(denies).toHaveLength(1);
    expect(actionsOf(denies[0] as Statement).sort()).toEqual([
      'ec2:AssignPrivateIpAddresses',
      'ec2:CreateNetworkInterface',
      'ec2:DeleteNetworkInterface',
      'ec2:UnassignPrivateIpAddresses',
    ]);
    expect(JSON.stringify(denies[0]?.Condition)).toMatch(/"ArnLike":\{"lambda:SourceFunctionArn":.*:function:\*"/);
    // No other failback role may create network interfaces.
    const creators = Object.values(policies)
      .filter((policy) =>
        withAction(
          statementsOf(policy.Properties.PolicyDocument) as unknown as Statement[],
          'ec2:CreateNetworkInterface',
        ).some((s) => s.Effect === 'Allow'),
      )
      .flatMap((policy) => (policy.Properties.Roles as { Ref: string }[]).map((role) => role.Ref));
    expect(creators).toEqual([expect.stringMatching(/^FailbackFunctionsCheckHostHealthRole/)]);
  });

  it('is created after its role’s policy, so Lambda finds the ENI rights when it attaches the function', () => {
    const resource = (template.toJSON().Resources as Record<string, { DependsOn?: string[] }>)[healthFunctionId ?? ''];
    const policyId = Object.keys(policies).find((id) =>
      id.startsWith('FailbackFunctionsCheckHostHealthRoleDefaultPolicy'),
    );
    expect(resource?.DependsOn).toContain(policyId);
  });

  it('outputs the group id, which the failback hosts’ groups admit on the checked ports', () => {
    expect(getAttLogicalId(template.toJSON().Outputs.HealthCheckSecurityGroupId.Value)).toBe(healthGroupId);
  });

  it('keeps cdk-nag AwsSolutions and Serverless clean', () => {
    const findings = [
      ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('(AwsSolutions|Serverless)-.*')),
      ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('(AwsSolutions|Serverless)-.*')),
    ];
    expect(findings.map((f) => `${f.id}: ${String(f.entry.data).split(': The')[0]}`)).toEqual([]);
  });
});

describe('the health-check configuration', () => {
  const cdkContext = (
    JSON.parse(readFileSync(`${PROJECT_ROOT}cdk.json`, 'utf8')) as { context: Record<string, unknown> }
  ).context;
  const read = (extra: Record<string, unknown>) => () => readConfig((key) => ({ ...cdkContext, ...extra })[key]);

  it('refuses an AWS-reserved document name among the own documents, naming the key', () => {
    expect(read({ 'homebound:healthCheckDocuments': 'AWS-RunPatchBaseline' })).toThrow(
      /homebound:healthCheckDocuments\.0: not an AWS-reserved name/,
    );
    expect(read({ 'homebound:healthCheckDocuments': 'MyApp-HealthCheck' })).not.toThrow();
  });

  it('refuses a security group id EC2 would not accept, naming the key (the health-check group points at them)', () => {
    expect(read({ 'homebound:securityGroupIds': 'sg-0aaa' })).toThrow(
      /homebound:securityGroupIds\.0: a security group id/,
    );
  });
});
