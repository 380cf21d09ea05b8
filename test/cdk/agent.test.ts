import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { agentRecordsPrefix } from '../../core/agent/handle-operation.js';
import { runLayout } from '../../core/failback/run-state.js';
import { InvalidAgentCaCertificateError, readAgentCaCertificate } from '../../lib/agent-role.js';
import { PROJECT_ROOT } from '../../lib/app-function.js';
import { makeTestCertificate } from '../support/test-ca.js';
import { getAttLogicalId, type Resources, resourcesOf, statementsOf, synthesizeHomebound } from './synth.js';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
const actionsOf = (statement: Statement) => [statement.Action].flat();
const resourcesIn = (statement: Statement) => [statement.Resource].flat();
type Synthesized = ReturnType<typeof synthesizeHomebound>;

/** The agent's managed policy's statements. */
function agentStatements({ template }: Synthesized): Statement[] {
  const policies = Object.entries(resourcesOf(template, 'AWS::IAM::ManagedPolicy')).filter(([id]) =>
    id.startsWith('AgentPolicy'),
  );
  expect(policies).toHaveLength(1);
  return statementsOf(policies[0]?.[1].Properties.PolicyDocument) as unknown as Statement[];
}

/**
 * `runs/…` of `{ "Fn::Join": ["", [<staging bucket ARN>, "/runs/…"]] }`, '' for the bucket's own ARN, undefined for
 * any other resource.
 */
function stagingKeyPattern(resource: unknown): string | undefined {
  const getAtt = (resource as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
  if (getAtt) return getAtt[0].includes('StagingBucket') && getAtt[1] === 'Arn' ? '' : undefined;
  const parts = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join']?.[1];
  if (!parts || !JSON.stringify(parts[0]).includes('StagingBucket')) return undefined;
  return String(parts[1]).replace(/^\//, '');
}

/** The statements of every identity policy attached to the role with logical id `roleId`. */
function roleStatements(resources: Resources, roleId: string): Statement[] {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(roleId))
    .flatMap((policy) => statementsOf(policy.Properties.PolicyDocument) as unknown as Statement[]);
}

const plain = synthesizeHomebound();
const resources = () => plain.template.toJSON().Resources as Resources;
const activityRef = () => ({ Ref: plain.stack.resolve(plain.stack.agentActivity.activity.activityArn).Ref });

describe('the agent activity', () => {
  it('is one activity named after the stack, with its ARN as the AgentActivityArn output', () => {
    const activities = resourcesOf(plain.template, 'AWS::StepFunctions::Activity');
    expect(Object.values(activities).map((a) => a.Properties.Name)).toEqual(['homeboundtest-agent']);
    expect(Object.values(plain.template.findOutputs('AgentActivityArn')).map((o) => o.Value)).toEqual([activityRef()]);
  });

  it("is the Resource the conditional-automated machine's Activity Tasks get; the automated one gets none", () => {
    const machines = resourcesOf(plain.template, 'AWS::StepFunctions::StateMachine');
    const substitutionsOf = (name: 'automated' | 'conditional-automated') => {
      const ref = plain.stack.resolve(plain.stack.failbackStateMachines[name].stateMachine.stateMachineArn).Ref;
      return machines[ref]?.Properties.DefinitionSubstitutions as Record<string, unknown>;
    };
    expect(substitutionsOf('conditional-automated').AgentActivityArn).toEqual(activityRef());
    expect(substitutionsOf('automated')).not.toHaveProperty('AgentActivityArn');
  });

  it("needs nothing in the conditional machine's role: no states: or kms: action names the activity", () => {
    const machine = plain.stack.failbackStateMachines['conditional-automated'].stateMachine;
    const roleId = plain.stack.resolve(machine.role.roleName).Ref as string;
    const statements = roleStatements(resources(), roleId);
    expect(statements.length).toBeGreaterThan(0);
    const activityId = activityRef().Ref;
    expect(statements.filter((s) => JSON.stringify(s).includes(activityId))).toEqual([]);
    // Its only Step Functions actions are its StreamPass Distributed Map's, on itself (test/cdk/state-machine.test.ts).
    expect(new Set(statements.flatMap(actionsOf).filter((a) => a.startsWith('states:')))).toEqual(
      new Set(['states:StartExecution', 'states:DescribeExecution', 'states:StopExecution']),
    );
  });
});

describe("the agent's policy", () => {
  const statements = agentStatements(plain);

  it('allows GetActivityTask on the agent activity only', () => {
    const polling = statements.filter((s) => actionsOf(s).includes('states:GetActivityTask'));
    expect(polling).toEqual([{ Effect: 'Allow', Action: 'states:GetActivityTask', Resource: activityRef() }]);
  });

  it('allows the task-token answers, which IAM authorizes on no resource, and no other Step Functions action', () => {
    const answers = statements.filter((s) => resourcesIn(s).includes('*'));
    expect(answers).toHaveLength(1);
    expect(new Set(answers.flatMap(actionsOf))).toEqual(
      new Set(['states:SendTaskHeartbeat', 'states:SendTaskSuccess', 'states:SendTaskFailure']),
    );
    const stepFunctions = statements.flatMap(actionsOf).filter((a) => a.startsWith('states:'));
    expect(new Set(stepFunctions)).toEqual(
      new Set([
        'states:GetActivityTask',
        'states:SendTaskHeartbeat',
        'states:SendTaskSuccess',
        'states:SendTaskFailure',
      ]),
    );
  });

  it('writes exactly the three record names below runs/<runId>/agent/, and deletes nothing', () => {
    const writes = statements.filter((s) => actionsOf(s).some((a) => a !== 's3:GetObject' && a.startsWith('s3:')));
    const puts = writes.filter((s) => actionsOf(s).includes('s3:PutObject'));
    expect(puts.flatMap(actionsOf)).toEqual(['s3:PutObject']);
    expect(new Set(puts.flatMap(resourcesIn).map(stagingKeyPattern))).toEqual(
      new Set([
        'runs/*/agent/volumes/*/pass-*/ack.json',
        'runs/*/agent/volumes/*/pass-*/apply-error.json',
        'runs/*/agent/heartbeat.json',
      ]),
    );
    expect(puts.flatMap(resourcesIn)).toHaveLength(3);
    expect(statements.flatMap(actionsOf).filter((a) => /Delete|Abort/.test(a))).toEqual([]);
  });

  it('reads only staged passes (runs/*/volumes/*) and uses the staging key', () => {
    const reads = statements.filter((s) => actionsOf(s).includes('s3:GetObject'));
    expect(reads.flatMap(resourcesIn).map(stagingKeyPattern)).toEqual(['runs/*/volumes/*']);
    const key = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
    expect(key.map((s) => JSON.stringify(s.Resource))).toEqual([expect.stringContaining('StagingKey')]);
  });

  it("writes where the agent and PlanOnPremRun put the run's records (runs/<runId>/agent/)", () => {
    expect(runLayout.agent('run-1')).toBe(agentRecordsPrefix('run-1'));
    expect(agentRecordsPrefix('run-1')).toBe('runs/run-1/agent/');
  });

  it('matches the policy docs/agent.md lists for a manual setup', () => {
    const docs = readFileSync(`${PROJECT_ROOT}docs/agent.md`, 'utf8');
    const block = [...docs.matchAll(/```json\n([\s\S]*?)```/g)]
      .map((match) => match[1] ?? '')
      .find((json) => json.includes('states:GetActivityTask'));
    const documented = statementsOf(JSON.parse(block ?? '{}')) as unknown as Statement[];
    const s3Patterns = (list: Statement[], action: string) =>
      list
        .filter((s) => actionsOf(s).includes(action))
        .flatMap(resourcesIn)
        .map((r) =>
          typeof r === 'string' ? r.replace(/^arn:aws:s3:::STAGING_BUCKET\/?/, '') : (stagingKeyPattern(r) ?? '?'),
        );
    for (const action of ['s3:GetObject', 's3:PutObject', 's3:ListBucket', 'states:SendTaskSuccess']) {
      expect(new Set(s3Patterns(documented, action)), action).toEqual(new Set(s3Patterns(statements, action)));
    }
  });
});

describe('without a trust anchor', () => {
  it('creates no role, trust anchor or profile, and an output says how to get them', () => {
    expect(Object.keys(resourcesOf(plain.template, 'AWS::IAM::Role')).filter((id) => id.startsWith('Agent'))).toEqual(
      [],
    );
    expect(resourcesOf(plain.template, 'AWS::RolesAnywhere::TrustAnchor')).toEqual({});
    expect(resourcesOf(plain.template, 'AWS::RolesAnywhere::Profile')).toEqual({});
    const note = Object.values(plain.template.findOutputs('AgentRolesAnywhere'))[0]?.Value;
    expect(note).toMatch(/homebound:agentCaCertificate/);
    expect(note).toMatch(/homebound:agentTrustAnchorArn/);
  });
});

describe('with a CA certificate (homebound:agentCaCertificate)', () => {
  const caPath = makeTestCertificate('ca');
  const withCa = synthesizeHomebound({
    'homebound:agentCaCertificate': caPath,
    'homebound:agentCertificateCommonName': 'homebound-agent.dc1',
  });
  const anchors = resourcesOf(withCa.template, 'AWS::RolesAnywhere::TrustAnchor');
  const anchorId = Object.keys(anchors)[0] ?? '';
  const roles = Object.entries(resourcesOf(withCa.template, 'AWS::IAM::Role')).filter(([id]) =>
    id.startsWith('AgentRole'),
  );

  it('creates a trust anchor of the CA bundle', () => {
    expect(Object.keys(anchors)).toHaveLength(1);
    const source = anchors[anchorId]?.Properties.Source as { SourceType: string; SourceData: Record<string, string> };
    expect(source.SourceType).toBe('CERTIFICATE_BUNDLE');
    expect(source.SourceData.X509CertificateData).toBe(readFileSync(caPath, 'utf8').trim());
  });

  it('trusts Roles Anywhere for sessions of that trust anchor and certificate subject only', () => {
    expect(roles).toHaveLength(1);
    const trust = statementsOf(roles[0]?.[1].Properties.AssumeRolePolicyDocument) as unknown as Statement[];
    expect(trust).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'rolesanywhere.amazonaws.com' },
        Action: expect.toSatisfy(
          (actions: string[]) =>
            [...actions].sort().join() === ['sts:AssumeRole', 'sts:SetSourceIdentity', 'sts:TagSession'].join(),
        ),
        Condition: {
          ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [anchorId, 'TrustAnchorArn'] } },
          StringEquals: { 'aws:PrincipalTag/x509Subject/CN': 'homebound-agent.dc1' },
        },
      },
    ]);
  });

  it('gives the role the agent policy and nothing else', () => {
    const [roleId, role] = roles[0] ?? ['', undefined];
    expect(role?.Properties.Policies).toBeUndefined();
    expect(roleStatements(withCa.template.toJSON().Resources as Resources, roleId)).toEqual([]);
    const managed = role?.Properties.ManagedPolicyArns as { Ref: string }[];
    expect(managed.map((arn) => arn.Ref)).toEqual([expect.stringMatching(/^AgentPolicy/)]);
  });

  it('creates a profile naming that role, and outputs the three ARNs the signing helper takes', () => {
    const profiles = Object.values(resourcesOf(withCa.template, 'AWS::RolesAnywhere::Profile'));
    expect(profiles).toHaveLength(1);
    const roleArns = (profiles[0]?.Properties.RoleArns ?? []) as unknown[];
    expect(roleArns.map(getAttLogicalId)).toEqual([roles[0]?.[0]]);
    for (const output of ['AgentTrustAnchorArn', 'AgentProfileArn', 'AgentRoleArn']) {
      expect(Object.keys(withCa.template.findOutputs(output)), output).toHaveLength(1);
    }
    expect(withCa.template.findOutputs('AgentRolesAnywhere')).toEqual({});
  });
});

describe('with an existing trust anchor (homebound:agentTrustAnchorArn)', () => {
  const anchorArn = 'arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/0f1e2d3c-aaaa-bbbb-cccc-000000000001';
  const { template } = synthesizeHomebound({ 'homebound:agentTrustAnchorArn': anchorArn });

  it('trusts that anchor and creates none of its own', () => {
    expect(resourcesOf(template, 'AWS::RolesAnywhere::TrustAnchor')).toEqual({});
    expect(resourcesOf(template, 'AWS::RolesAnywhere::Profile')).toEqual({});
    const role = Object.entries(resourcesOf(template, 'AWS::IAM::Role')).find(([id]) => id.startsWith('AgentRole'));
    const trust = statementsOf(role?.[1].Properties.AssumeRolePolicyDocument) as unknown as Statement[];
    expect(trust.map((s) => s.Condition)).toEqual([{ ArnEquals: { 'aws:SourceArn': anchorArn } }]);
  });
});

describe('the CA certificate file', () => {
  it('must be a CA: a leaf certificate is refused at synth, naming the file', () => {
    const leaf = makeTestCertificate('leaf', 'not-a-ca');
    expect(() => readAgentCaCertificate(leaf)).toThrow(InvalidAgentCaCertificateError);
    expect(() => readAgentCaCertificate(leaf)).toThrow(/CN=not-a-ca.*is not a CA certificate/);
  });

  it('must hold a PEM certificate', () => {
    expect(() => readAgentCaCertificate(`${PROJECT_ROOT}package.json`)).toThrow(/holds no PEM certificate/);
    expect(() => readAgentCaCertificate('/nonexistent/ca.pem')).toThrow(/cannot read \/nonexistent\/ca.pem/);
  });
});
