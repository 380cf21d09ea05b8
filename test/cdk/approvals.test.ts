import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../lib/config.js';
import { resourcesOf, synthesizeHomebound } from './synth.js';

interface Statement {
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}
const APPROVAL_CONTEXT = {
  'homebound:approvers': 'ops@example.com,lead@example.com',
  'homebound:approvalSender': 'homebound@example.com',
  'homebound:slackApprovers': 'U0APPROVER',
  'homebound:slackChannel': 'C0APPROVALS',
};
const { stack, template } = synthesizeHomebound(APPROVAL_CONTEXT);
const functions = resourcesOf(template, 'AWS::Lambda::Function');
const tables = resourcesOf(template, 'AWS::DynamoDB::Table');
const approvalsTable = Object.keys(tables).find((id) => id.startsWith('ApprovalsTable')) ?? '';
const auditTable = Object.keys(tables).find((id) => id.startsWith('ApprovalsAuditTable')) ?? '';

/** The function whose logical id starts with `prefix`. */
function functionNamed(prefix: string) {
  const fn = Object.entries(functions).find(([id]) => id.startsWith(prefix))?.[1];
  if (!fn) throw new Error(`no function ${prefix}`);
  return fn;
}

/** Every statement of every policy attached to the role of the function whose logical id starts with `prefix`. */
function statementsOf(prefix: string): Statement[] {
  const fn = functionNamed(prefix);
  const role = (fn.Properties.Role as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
  return Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(`"${role}"`))
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
const actionsOn = (statements: Statement[], table: string) =>
  statements
    .filter((s) => JSON.stringify(s.Resource).includes(table))
    .flatMap((s) => [s.Action].flat())
    .sort();
const rolesWith = (action: string) =>
  Object.entries(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes(`"${action}"`))
    .flatMap(([, p]) => (p.Properties.Roles as { Ref: string }[]).map((r) => r.Ref))
    .sort();

describe('approvals (CDK)', () => {
  it('keeps approvals in an encrypted table with point-in-time recovery and a TTL on the deadline', () => {
    expect(tables[approvalsTable]?.Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'approvalId', KeyType: 'HASH' }],
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    });
  });

  it('keeps the audit in its own encrypted table, without TTL, retained with the stack deleted', () => {
    const audit = tables[auditTable] as { Properties: Record<string, unknown>; DeletionPolicy?: string };
    expect(audit.Properties).toMatchObject({
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    expect(audit.Properties.TimeToLiveSpecification).toBeUndefined();
    expect(audit.DeletionPolicy).toBe('Retain');
  });

  it('serves the page and the Slack endpoint through public function URLs (the signatures are the auth)', () => {
    const urls = Object.values(resourcesOf(template, 'AWS::Lambda::Url'));
    expect(
      urls.map((url) => (url.Properties.TargetFunctionArn as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]).sort(),
    ).toEqual([expect.stringMatching(/^ApprovalsPageFunction/), expect.stringMatching(/^ApprovalsSlackFunction/)]);
    for (const url of urls) expect(url.Properties.AuthType).toBe('NONE');
  });

  it('lets only the page and the Slack endpoint complete task tokens, and only of this state machine', () => {
    const roles = rolesWith('states:SendTaskSuccess');
    expect(roles).toEqual([expect.stringMatching(/^ApprovalsPageRole/), expect.stringMatching(/^ApprovalsSlackRole/)]);
    const statement = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .find((s) => [s.Action].flat().includes('states:SendTaskSuccess'));
    expect([statement?.Action].flat().sort()).toEqual(['states:SendTaskFailure', 'states:SendTaskSuccess']);
    expect(statement?.Resource).toEqual({ Ref: expect.stringMatching(/^AutomatedFailbackStateMachine/) });
    expect(rolesWith('states:SendTaskHeartbeat')).toEqual([]);
  });

  it('grants each approval function only the table calls it makes; the audit is append-only', () => {
    expect(actionsOn(statementsOf('FailbackFunctionsRequestApproval'), approvalsTable)).toEqual([
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    for (const prefix of ['ApprovalsPage', 'ApprovalsSlack']) {
      expect(actionsOn(statementsOf(prefix), approvalsTable), prefix).toEqual([
        'dynamodb:GetItem',
        'dynamodb:UpdateItem',
      ]);
      expect(actionsOn(statementsOf(prefix), auditTable), prefix).toEqual(['dynamodb:PutItem']);
    }
    expect(actionsOn(statementsOf('ApprovalsReminders'), approvalsTable)).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
    ]);
    expect(actionsOn(statementsOf('FailbackFunctionsRequestApproval'), auditTable)).toEqual([]);
    expect(actionsOn(statementsOf('FailbackFunctionsCutover'), approvalsTable)).toEqual([]);
  });

  it('gives the approval environment and the link key to RequestApproval and the approval functions only', () => {
    for (const [id, fn] of Object.entries(functions)) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      const approvalFunction = id.startsWith('Approvals') || id.startsWith('FailbackFunctionsRequestApproval');
      expect('HOMEBOUND_APPROVAL_LINK_KEY_SECRET' in variables, id).toBe(approvalFunction);
    }
    const request = functionNamed('FailbackFunctionsRequestApproval');
    expect((request.Properties.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      HOMEBOUND_APPROVAL_PAGE_URL: {
        'Fn::GetAtt': [expect.stringMatching(/^ApprovalsPageFunctionFunctionUrl/), 'FunctionUrl'],
      },
      HOMEBOUND_APPROVERS: 'ops@example.com,lead@example.com',
      HOMEBOUND_SLACK_APPROVERS: 'U0APPROVER',
      HOMEBOUND_SLACK_CHANNEL: 'C0APPROVALS',
      HOMEBOUND_APPROVAL_SENDER: 'homebound@example.com',
    });
    expect(rolesWith('secretsmanager:GetSecretValue')).toEqual([
      expect.stringMatching(/^ApprovalsPageRole/),
      expect.stringMatching(/^ApprovalsRemindersRole/),
      expect.stringMatching(/^ApprovalsSlackRole/),
      // The gateway-ack secret (test/gateway/cdk-gateway-access.test.ts).
      expect.stringMatching(/^FailbackFunctionsCheckAppliedRole/),
      expect.stringMatching(/^FailbackFunctionsPrepareTargetRole/),
      expect.stringMatching(/^FailbackFunctionsRequestApprovalRole/),
    ]);
  });

  it('lets only the senders send email, only from the configured identity', () => {
    expect(rolesWith('ses:SendEmail')).toEqual([
      expect.stringMatching(/^ApprovalsRemindersRole/),
      expect.stringMatching(/^FailbackFunctionsRequestApprovalRole/),
    ]);
    const send = statementsOf('ApprovalsReminders').find((s) => [s.Action].flat().includes('ses:SendEmail'));
    expect(send?.Condition).toEqual({ StringEquals: { 'ses:FromAddress': 'homebound@example.com' } });
    const identities = [...JSON.stringify(send?.Resource).matchAll(/:identity\/([^"]+)"/g)].map((m) => m[1]);
    expect(identities.sort()).toEqual(['example.com', 'homebound@example.com']);
  });

  it('sweeps reminders and timeouts every 5 minutes', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [{ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ApprovalsRemindersFunction'), 'Arn'] } }],
    });
  });

  it('passes cdk-nag with the approval channel configured', () => {
    const findings = [
      ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ];
    expect(findings.map((f) => f.id)).toEqual([]);
  });
});

describe('approval config keys', () => {
  const base = {
    'homebound:availabilityZone': 'us-east-1a',
    'homebound:subnetId': 'subnet-0abc',
    'homebound:imageId': 'ami-0abc',
    'homebound:instanceType': 'm7g.large',
    'homebound:takeoverTag': 'k=v',
  };
  const read = (extra: Record<string, unknown>) => () =>
    readConfig((key) => (({ ...base, ...extra }) as Record<string, unknown>)[key]);

  it('requires the SES sender when email approvers are set, and the channel when Slack approvers are', () => {
    expect(read({ 'homebound:approvers': 'ops@example.com' })).toThrow('homebound:approvalSender: required');
    expect(read({ 'homebound:slackApprovers': 'U0APPROVER' })).toThrow('homebound:slackChannel: required');
  });

  it('names a malformed Slack id or channel', () => {
    expect(read({ 'homebound:slackApprovers': 'alice' })).toThrow('homebound:slackApprovers.0: a Slack user id');
    expect(read({ 'homebound:slackApprovers': 'U0A', 'homebound:slackChannel': '#ops' })).toThrow(
      'homebound:slackChannel: a Slack channel id',
    );
  });

  it('reads lists from -c strings and defaults the reminder to 15 minutes', () => {
    const config = read({
      'homebound:slackApprovers': 'U0A, W0B',
      'homebound:slackChannel': 'C0X',
      'homebound:approvalReminderMinutes': '30',
    })();
    expect(config.slackApprovers).toEqual(['U0A', 'W0B']);
    expect(config.approvalReminderMinutes).toBe(30);
    expect(read({})().approvalReminderMinutes).toBe(15);
  });
});
