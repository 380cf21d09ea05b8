import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { getAttLogicalId, resourcesOf, statementsOf, synthesizeHomebound } from './synth.js';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const { stack, template } = synthesizeHomebound();

/** The Allow statements of one failback function's role that grant `action`. */
function allowing(template: ReturnType<typeof synthesizeHomebound>['template'], task: string, action: string) {
  return Object.entries(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter(([id]) => id.startsWith(`FailbackFunctions${task}Role`))
    .flatMap(([, policy]) => statementsOf(policy.Properties.PolicyDocument) as unknown as Statement[])
    .filter((s) => s.Effect === 'Allow' && [s.Action].flat().includes(action));
}
const on = (kind: string) => (s: Statement) => JSON.stringify(s.Resource).includes(`:${kind}/`);
const instanceStatement = (task: string, t = template) => allowing(t, task, 'ec2:RunInstances').filter(on('instance'));
const launchedWith = (task: string, t = template) =>
  allowing(t, task, 'ec2:RunInstances')
    .filter(on('security-group'))
    .flatMap((s) => [s.Resource].flat())
    .map((r) => JSON.stringify(r))
    .filter((r) => r.includes(':security-group/'));

describe('RunInstances', () => {
  it('launches gateways only as the gateway type and failback hosts only as the failback type', () => {
    expect(instanceStatement('PrepareTarget').map((s) => s.Condition?.StringEquals?.['ec2:InstanceType'])).toEqual([
      'c7gn.large',
    ]);
    expect(
      instanceStatement('LaunchFailbackHosts').map((s) => s.Condition?.StringEquals?.['ec2:InstanceType']),
    ).toEqual(['m7g.large']);
  });

  it('lets PrepareTarget launch only gateways and LaunchFailbackHosts only failback hosts', () => {
    const roleOf = (task: string) =>
      allowing(template, task, 'ec2:RunInstances')
        .filter((s) => on('instance')(s) || on('volume')(s))
        .map((s) => s.Condition?.StringEquals?.['aws:RequestTag/homebound:role']);
    expect(roleOf('PrepareTarget')).toEqual(['gateway', 'gateway']);
    expect(roleOf('LaunchFailbackHosts')).toEqual(['failback', 'failback']);
  });

  it('requires IMDSv2 tokens, with hop limit 1 for gateways and 2 for failback hosts', () => {
    for (const [task, hops] of [
      ['PrepareTarget', 1],
      ['LaunchFailbackHosts', 2],
    ] as const) {
      const [statement] = instanceStatement(task);
      expect(statement?.Condition?.StringEquals?.['ec2:MetadataHttpTokens'], task).toBe('required');
      expect(statement?.Condition?.NumericLessThanEquals, task).toEqual({
        'ec2:MetadataHttpPutResponseHopLimit': hops,
      });
    }
  });

  it('requires every volume it creates to be encrypted, at launch and by CreateVolume', () => {
    const volumeCreates = [
      ...allowing(template, 'PrepareTarget', 'ec2:RunInstances').filter(on('volume')),
      ...allowing(template, 'LaunchFailbackHosts', 'ec2:RunInstances').filter(on('volume')),
      ...allowing(template, 'PrepareTarget', 'ec2:CreateVolume').filter(on('volume')),
    ];
    expect(volumeCreates).toHaveLength(3);
    for (const statement of volumeCreates) expect(statement.Condition?.Bool).toEqual({ 'ec2:Encrypted': 'true' });
    // A target volume made from a seed snapshot: CreateVolume is also checked on the snapshot, which must be opted in.
    const fromSnapshot = allowing(template, 'PrepareTarget', 'ec2:CreateVolume').filter((s) => !on('volume')(s));
    expect(fromSnapshot).toHaveLength(1);
    expect(JSON.stringify(fromSnapshot[0]?.Resource)).toContain(':snapshot/');
    expect(Object.keys(fromSnapshot[0]?.Condition?.StringEquals ?? {})).toEqual(['aws:ResourceTag/homebound:seed-for']);
  });

  it('pins security groups: gateways to the stack’s gateway group, failback hosts to the configured groups', () => {
    const configured = synthesizeHomebound({ 'homebound:securityGroupIds': 'sg-0aaa0000,sg-0bbb0000' }).template;

    expect(launchedWith('PrepareTarget', configured)).toEqual([
      expect.stringMatching(/security-group\/",\{"Fn::GetAtt":\["GatewaySecurityGroup[0-9A-F]+","GroupId"\]\}/),
    ]);
    expect(launchedWith('LaunchFailbackHosts', configured)).toEqual([
      expect.stringContaining(':security-group/sg-0aaa0000'),
      expect.stringContaining(':security-group/sg-0bbb0000'),
    ]);
    expect(JSON.stringify(allowing(configured, 'LaunchFailbackHosts', 'ec2:RunInstances'))).not.toContain(
      'security-group/*',
    );
  });

  it('lets failback hosts launch as each configured failback type, in each configured subnet, with the configured tag keys only', () => {
    const configured = synthesizeHomebound({
      'homebound:failbackInstanceTypes': 'm7g.large,r7g.xlarge',
      'homebound:failbackSubnetIds': 'subnet-0aaa,subnet-0bbb',
      'homebound:failbackTagKeys': 'app,team',
    }).template;
    const [instance] = instanceStatement('LaunchFailbackHosts', configured);
    expect(instance?.Condition?.StringEquals?.['ec2:InstanceType']).toEqual(['m7g.large', 'r7g.xlarge']);
    expect(instance?.Condition?.['ForAllValues:StringEquals']?.['aws:TagKeys']).toEqual(
      expect.arrayContaining(['homebound:run', 'app', 'team']),
    );
    const subnets = allowing(configured, 'LaunchFailbackHosts', 'ec2:RunInstances')
      .filter(on('subnet'))
      .flatMap((s) => [s.Resource].flat())
      .map((r) => JSON.stringify(r))
      .filter((r) => r.includes(':subnet/'));
    expect(subnets).toEqual([
      expect.stringContaining(':subnet/subnet-0aaa'),
      expect.stringContaining(':subnet/subnet-0bbb'),
    ]);
    // The gateway keeps the one configured type and subnet, and homebound's own tag keys.
    const [gateway] = instanceStatement('PrepareTarget', configured);
    expect(gateway?.Condition?.['ForAllValues:StringEquals']?.['aws:TagKeys']).not.toContain('app');
    expect(JSON.stringify(allowing(configured, 'PrepareTarget', 'ec2:RunInstances'))).not.toContain('subnet-0bbb');
  });

  it('refuses the takeover tag key among the failback tag keys', () => {
    expect(() => synthesizeHomebound({ 'homebound:failbackTagKeys': 'app,homebound:takeover' })).toThrow(
      /homebound:failbackTagKeys/,
    );
  });

  it('gives failback hosts the gateway group, with a warning, when no groups are configured', () => {
    expect(launchedWith('LaunchFailbackHosts')).toEqual(launchedWith('PrepareTarget'));
    expect(
      Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('homebound:securityGroupIds is empty')),
    ).toHaveLength(1);
  });
});

describe('the gateway’s encrypted volumes', () => {
  it('are encrypted with the staging key: every failback function hands it to the gateway launch', () => {
    const functions = Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).filter(([id]) =>
      id.startsWith('FailbackFunctions'),
    );
    expect(functions.length).toBeGreaterThanOrEqual(17);
    for (const [id, fn] of functions) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(getAttLogicalId(variables.HOMEBOUND_GATEWAY_VOLUME_KMS_KEY_ID), id).toMatch(/^StagingKey/);
    }
  });

  it('let PrepareTarget use the staging key for EBS only through EC2, and grant it only to AWS resources', () => {
    const kms = Object.entries(resourcesOf(template, 'AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('FailbackFunctionsPrepareTargetRole'))
      .flatMap(([, policy]) => statementsOf(policy.Properties.PolicyDocument) as unknown as Statement[])
      .filter((s) => [s.Action].flat().some((a) => /^kms:(CreateGrant|GenerateDataKeyWithoutPlaintext)$/.test(a)));
    const viaEc2 = { 'kms:ViaService': { 'Fn::Join': ['', ['ec2.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } };

    expect(kms).toHaveLength(2);
    for (const statement of kms) {
      expect(getAttLogicalId(statement.Resource)).toMatch(/^StagingKey/);
      expect(statement.Condition?.StringEquals).toEqual(viaEc2);
    }
    const grant = kms.find((s) => [s.Action].flat().includes('kms:CreateGrant'));
    expect(grant?.Action).toBe('kms:CreateGrant');
    expect(grant?.Condition?.Bool).toEqual({ 'kms:GrantIsForAWSResource': 'true' });
  });

  it('are the only volumes a function may create KMS grants for (PrepareTarget alone)', () => {
    const holders = Object.entries(resourcesOf(template, 'AWS::IAM::Policy'))
      .filter(([, policy]) =>
        (statementsOf(policy.Properties.PolicyDocument) as unknown as Statement[]).some((s) =>
          [s.Action].flat().includes('kms:CreateGrant'),
        ),
      )
      .map(([id]) => id);
    expect(holders).toEqual([expect.stringMatching(/^FailbackFunctionsPrepareTargetRole/)]);
  });
});

describe('the sync gateways’ security group', () => {
  // The stack's other group is the health checks' (test/cdk/health-checks.test.ts).
  const groups = Object.entries(resourcesOf(template, 'AWS::EC2::SecurityGroup')).filter(([id]) =>
    id.startsWith('GatewaySecurityGroup'),
  );
  const [groupId, group] = groups[0] ?? [];

  it('is made in the configured VPC, with no ingress and egress HTTPS only', () => {
    expect(groups).toHaveLength(1);
    expect(group?.Properties.VpcId).toBe('vpc-00000000000000000');
    expect(group?.Properties.SecurityGroupIngress).toBeUndefined();
    expect(group?.Properties.SecurityGroupEgress).toEqual([
      { CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Description: expect.any(String) },
    ]);
    expect(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')).toEqual({});
    expect(resourcesOf(template, 'AWS::EC2::SecurityGroupEgress')).toEqual({});
  });

  it('is what every failback function launches gateways with', () => {
    const functions = Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).filter(([id]) =>
      id.startsWith('FailbackFunctions'),
    );
    expect(functions.length).toBeGreaterThanOrEqual(17);
    for (const [id, fn] of functions) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(getAttLogicalId(variables.HOMEBOUND_GATEWAY_SECURITY_GROUP_ID), id).toBe(groupId);
    }
  });

  it('cannot be made without homebound:vpcId: synth fails naming the key', () => {
    expect(() => synthesizeHomebound({ 'homebound:vpcId': undefined })).toThrow(/homebound:vpcId: required/);
  });
});
