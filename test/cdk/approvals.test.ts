import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { failbackMethods } from '../../core/methods/registry.js';
import { PROJECT_ROOT, SKIP_BUNDLING_CONTEXT } from '../../lib/app-function.js';
import { Approvals } from '../../lib/approvals.js';
import { readConfig } from '../../lib/config.js';
import { TEST_TEMP_ROOT_ENV } from '../support/temp-root.js';
import { resourcesOf, synthesizeHomebound, TEST_ENV } from './synth.js';

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
const cdkContext = (): Record<string, unknown> =>
  (JSON.parse(readFileSync(`${PROJECT_ROOT}cdk.json`, 'utf8')) as { context: Record<string, unknown> }).context;
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

  it('reserves concurrency for the public endpoints only (10 each by default), so a flood cannot starve failback', () => {
    const reserved = Object.entries(functions)
      .filter(([, fn]) => fn.Properties.ReservedConcurrentExecutions !== undefined)
      .map(([id, fn]) => [id.replace(/Function[0-9A-F]{8}$/, ''), fn.Properties.ReservedConcurrentExecutions]);
    expect(reserved.sort()).toEqual([
      ['ApprovalsPage', 10],
      ['ApprovalsSlack', 10],
    ]);
  });

  it('takes another endpoint concurrency and refuses one below 1', () => {
    const config = readConfig((key) => ({ ...cdkContext(), ...APPROVAL_CONTEXT })[key]);
    const build = (endpointConcurrency: number) => {
      const outdir = mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'cdk-'));
      const app = new App({ outdir, context: { [SKIP_BUNDLING_CONTEXT]: true } });
      const scope = new Stack(app, 'ConcurrencyTest', { env: TEST_ENV });
      return { scope, approvals: new Approvals(scope, 'Approvals', { config, endpointConcurrency }) };
    };
    const { scope } = build(3);
    const urls = Template.fromStack(scope).findResources('AWS::Lambda::Function', {
      Properties: { ReservedConcurrentExecutions: 3 },
    });
    expect(Object.keys(urls)).toHaveLength(2);
    expect(() => build(0)).toThrow('endpointConcurrency must be a whole number ≥ 1');
  });

  it("lets only the page and the Slack endpoint complete task tokens, and only of this stack's failback machines", () => {
    const roles = rolesWith('states:SendTaskSuccess');
    expect(roles).toEqual([expect.stringMatching(/^ApprovalsPageRole/), expect.stringMatching(/^ApprovalsSlackRole/)]);
    const statement = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .find((s) => [s.Action].flat().includes('states:SendTaskSuccess'));
    expect([statement?.Action].flat().sort()).toEqual(['states:SendTaskFailure', 'states:SendTaskSuccess']);
    const machines = failbackMethods.map(
      (method) => stack.resolve(stack.failbackStateMachines[method.name].stateMachine.stateMachineArn).Ref as string,
    );
    const resources = [statement?.Resource].flat() as { Ref: string }[];
    expect(resources.map((resource) => resource.Ref).sort()).toEqual([...machines].sort());
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

  it('lets VerifyDecision only read: GetItem on approvals, Query on the audit, no secret, no SendTask*', () => {
    const statements = statementsOf('FailbackFunctionsVerifyDecision');
    expect(actionsOn(statements, approvalsTable)).toEqual(['dynamodb:GetItem']);
    expect(actionsOn(statements, auditTable)).toEqual(['dynamodb:Query']);
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions.filter((action) => /^(secretsmanager|states|ses):/.test(action))).toEqual([]);
    const variables = (
      functionNamed('FailbackFunctionsVerifyDecision').Properties.Environment as {
        Variables: Record<string, unknown>;
      }
    ).Variables;
    expect(variables).toMatchObject({
      HOMEBOUND_APPROVERS: 'ops@example.com,lead@example.com',
      HOMEBOUND_SLACK_APPROVERS: 'U0APPROVER',
    });
  });

  it('gives the approval environment to RequestApproval, VerifyDecision and the approval functions only', () => {
    for (const [id, fn] of Object.entries(functions)) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      const approvalFunction = /^(Approvals|FailbackFunctionsRequestApproval|FailbackFunctionsVerifyDecision)/.test(id);
      expect('HOMEBOUND_APPROVALS_TABLE' in variables, id).toBe(approvalFunction);
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
  });

  it('lets each approval role read only the secrets it uses, and names only those in its environment', () => {
    const secrets = resourcesOf(template, 'AWS::SecretsManager::Secret');
    const linkKey = Object.keys(secrets).find((id) => id.startsWith('ApprovalsLinkKey')) ?? 'no link key';
    const slackSecret = Object.keys(secrets).find((id) => id.startsWith('ApprovalsSlackCredentials')) ?? 'no secret';
    const readers = (secret: string) =>
      Object.entries(resourcesOf(template, 'AWS::IAM::Policy'))
        .filter(([, p]) =>
          (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement.some(
            (s) =>
              [s.Action].flat().includes('secretsmanager:GetSecretValue') &&
              JSON.stringify(s.Resource).includes(secret),
          ),
        )
        .flatMap(([, p]) => (p.Properties.Roles as { Ref: string }[]).map((r) => r.Ref.replace(/[0-9A-F]{8}$/, '')))
        .sort();
    expect(readers(linkKey)).toEqual([
      'ApprovalsPageRole',
      'ApprovalsRemindersRole',
      'FailbackFunctionsRequestApprovalRole',
    ]);
    expect(readers(slackSecret)).toEqual([
      'ApprovalsRemindersRole',
      'ApprovalsSlackRole',
      'FailbackFunctionsRequestApprovalRole',
    ]);
    const variablesOf = (prefix: string) =>
      (functionNamed(prefix).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect('HOMEBOUND_SLACK_SECRET' in variablesOf('ApprovalsPage')).toBe(false);
    expect('HOMEBOUND_APPROVAL_LINK_KEY_SECRET' in variablesOf('ApprovalsSlack')).toBe(false);
    expect('HOMEBOUND_APPROVAL_LINK_KEY_SECRET' in variablesOf('FailbackFunctionsVerifyDecision')).toBe(false);
    expect('HOMEBOUND_SLACK_SECRET' in variablesOf('FailbackFunctionsVerifyDecision')).toBe(false);
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

describe('approval key (CDK)', () => {
  const keys = resourcesOf(template, 'AWS::KMS::Key');
  const keyId = Object.keys(keys).find((id) => id.startsWith('ApprovalsKey')) ?? 'no approval key';
  const key = keys[keyId] as { Properties: Record<string, unknown>; DeletionPolicy?: string };
  interface KeyStatement {
    Sid?: string;
    Action: string | string[];
    Principal: { AWS?: unknown; Service?: unknown };
    Condition?: Record<string, Record<string, unknown>>;
  }
  const statements = (key.Properties.KeyPolicy as { Statement: KeyStatement[] }).Statement;
  const CRYPTO = /^kms:(Decrypt|Encrypt|GenerateDataKey|ReEncrypt|\*)/;
  const principalIds = (statement: KeyStatement) =>
    [statement.Principal.AWS ?? statement.Principal.Service].flat().map((principal) =>
      JSON.stringify(principal)
        .replace(/^.*"Fn::GetAtt":\["([A-Za-z]+?)[0-9A-F]{8}".*$/, '$1')
        .replace(/^.*cfn-exec-role.*$/, 'deployer')
        .replace(/^.*:root.*$/, 'account'),
    );

  it('encrypts both tables, both secrets and the execution history with the approval key', () => {
    const ref = { 'Fn::GetAtt': [keyId, 'Arn'] };
    for (const table of [approvalsTable, auditTable]) {
      expect(tables[table]?.Properties.SSESpecification, table).toEqual({
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: ref,
      });
    }
    // The approval secrets; the gateway-ack secret is the failback functions' (test/gateway/cdk-gateway-access.test.ts).
    const secrets = Object.entries(resourcesOf(template, 'AWS::SecretsManager::Secret'))
      .filter(([id]) => id.startsWith('Approvals'))
      .map(([, secret]) => secret);
    expect(secrets).toHaveLength(2);
    for (const secret of secrets) expect(secret.Properties.KmsKeyId).toEqual(ref);
    const [stateMachine] = Object.values(resourcesOf(template, 'AWS::StepFunctions::StateMachine'));
    expect(stateMachine?.Properties.EncryptionConfiguration).toMatchObject({
      Type: 'CUSTOMER_MANAGED_KMS_KEY',
      KmsKeyId: ref,
    });
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
  });

  it('lets administrators manage the key but not use it: no kms:*, no crypto, CreateGrant only for AWS resources', () => {
    const account = statements.filter((statement) => principalIds(statement).includes('account'));
    expect(account.map((statement) => statement.Sid)).toEqual([
      'AdministratorsManageButDoNotUse',
      'ServicesGrantThemselvesForTheirResources',
    ]);
    const adminActions = [account[0]?.Action ?? []].flat();
    expect(adminActions).toContain('kms:PutKeyPolicy');
    expect(adminActions.filter((action) => CRYPTO.test(action) || action === 'kms:CreateGrant')).toEqual([]);
    expect(account[1]?.Action).toBe('kms:CreateGrant');
    expect(account[1]?.Condition?.Bool).toEqual({ 'kms:GrantIsForAWSResource': 'true' });
  });

  it('lets only the approval roles, VerifyDecision, the state machines and the deployer decrypt, each through its service', () => {
    const decrypters = statements
      .filter((statement) => [statement.Action].flat().some((action) => CRYPTO.test(action)))
      .flatMap((statement) => principalIds(statement).map((id) => `${id} ${JSON.stringify(statement.Condition)}`));
    const who = [...new Set(decrypters.map((line) => line.split(' ')[0]))].sort();
    expect(who).toEqual([
      // CloudWatch Logs delivery of the state machine's logs (CDK adds it; the logs carry no execution data)
      '"delivery.logs.amazonaws.com"',
      'ApprovalsPageRole',
      'ApprovalsRemindersRole',
      'ApprovalsSlackRole',
      'AutomatedFailbackStateMachineRole',
      'ConditionalAutomatedFailbackStateMachineRole',
      'FailbackFunctionsRequestApprovalRole',
      'FailbackFunctionsVerifyDecisionRole',
      'deployer',
    ]);
    for (const line of decrypters.filter((l) => /^(Approvals|Failback|deployer)/.test(l))) {
      expect(line).toMatch(/kms:ViaService/);
    }
    for (const line of decrypters.filter((l) => /^\w*FailbackStateMachineRole/.test(l))) {
      expect(line).toMatch(/kms:EncryptionContext/);
    }
    const verifier = statements.find((statement) =>
      principalIds(statement).includes('FailbackFunctionsVerifyDecisionRole'),
    );
    expect([verifier?.Action].flat().sort()).toEqual(['kms:Decrypt', 'kms:DescribeKey']);
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
