import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { FAILBACK_REQUESTED_EVENT } from '../../core/failback/deployment-names.js';
import { failbackMethods } from '../../core/methods/registry.js';
import { FailbackTriggers } from '../../lib/failback-triggers.js';
import { TEST_TEMP_ROOT_ENV } from '../support/temp-root.js';
import { getAttLogicalId, resourcesOf, statementsOf, synthesizeHomebound } from './synth.js';

const { stack, template } = synthesizeHomebound();
const stateMachineRef = { Ref: stack.resolve(stack.automatedFailback.stateMachine.stateMachineArn).Ref };

interface Target {
  Arn: unknown;
  RoleArn: unknown;
  InputPath?: string;
  DeadLetterConfig?: { Arn: unknown };
  RetryPolicy?: { MaximumEventAgeInSeconds: number; MaximumRetryAttempts: number };
}
const rules = Object.values(resourcesOf(template, 'AWS::Events::Rule')).filter(
  (rule) =>
    (rule.Properties.EventPattern as { source: string[] } | undefined)?.source[0] === FAILBACK_REQUESTED_EVENT.source,
);
const rule = rules[0]?.Properties;
const target = (rule?.Targets as Target[] | undefined)?.[0];

describe('Failback Requested trigger', () => {
  it('starts the automated failback on a "Failback Requested" event for its method, with the event detail as input', () => {
    expect(rules).toHaveLength(failbackMethods.length);
    expect(rule?.EventPattern).toEqual({
      source: ['homebound'],
      'detail-type': ['Failback Requested'],
      detail: { method: ['automated'] },
    });
    expect(rule?.Targets).toHaveLength(1);
    expect(target?.Arn).toEqual(stateMachineRef);
    expect(target?.InputPath).toBe('$.detail');
  });

  it('listens on a bus of its own, so PutEvents there is the permission to request a failback', () => {
    expect(rule?.EventBusName).toEqual({ Ref: expect.stringMatching(/^TriggersBus/) });
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'HomeboundTest-failback-requests' });
  });

  it("lets the rule's role do nothing but StartExecution on the automated failback", () => {
    const roleId = getAttLogicalId(target?.RoleArn);
    const policies = Object.values(resourcesOf(template, 'AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy.Properties.Roles).includes(roleId),
    );
    const statements = policies.flatMap(
      (policy) => (policy.Properties.PolicyDocument as { Statement: unknown[] }).Statement,
    );
    expect(statements).toEqual([
      { Action: 'states:StartExecution', Effect: 'Allow', Resource: expect.arrayContaining([stateMachineRef]) },
    ]);
    const role = resourcesOf(template, 'AWS::IAM::Role')[roleId];
    expect(JSON.stringify(role?.Properties.AssumeRolePolicyDocument)).toContain('"aws:SourceAccount":"123456789012"');
  });

  it('gives up on a request after 10 retries or an hour rather than start a failback late', () => {
    expect(target?.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 10 });
  });

  it('keeps undeliverable requests 14 days in an encrypted, TLS-only dead-letter queue only this rule writes to', () => {
    const queueId = getAttLogicalId(target?.DeadLetterConfig?.Arn);
    const queue = resourcesOf(template, 'AWS::SQS::Queue')[queueId];
    expect(queue?.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    const policy = Object.values(resourcesOf(template, 'AWS::SQS::QueuePolicy')).find((p) =>
      JSON.stringify(p.Properties.Queues).includes(queueId),
    );
    const statements = statementsOf(policy?.Properties.PolicyDocument);
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Principal: { Service: 'events.amazonaws.com' },
        Condition: {
          ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [expect.stringMatching(/^TriggersRule/), 'Arn'] } },
        },
      }),
    );
  });
});

describe('Failback Requested routing by method', () => {
  /** The construct alone with two methods' machines: what the stack builds once a second method is registered. */
  function twoMethods() {
    const app = new App({ outdir: mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'cdk-')) });
    const alone = new Stack(app, 'TriggersAlone', { env: { account: '123456789012', region: 'eu-west-1' } });
    const machine = (id: string) =>
      new sfn.StateMachine(alone, id, {
        definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(alone, `${id}Pass`)),
      });
    const routes = [
      { method: { name: 'automated', constructId: 'AutomatedFailback' }, stateMachine: machine('Automated') },
      {
        method: { name: 'conditional-automated', constructId: 'ConditionalAutomatedFailback' },
        stateMachine: machine('Conditional'),
      },
    ];
    new FailbackTriggers(alone, 'Triggers', { routes });
    return {
      template: Template.fromStack(alone),
      refs: routes.map((route) => alone.resolve(route.stateMachine.stateMachineArn)),
    };
  }

  it("sends each method's requests to that method's state machine only", () => {
    const { template: alone, refs } = twoMethods();
    const routed = Object.values(resourcesOf(alone, 'AWS::Events::Rule')).map((found) => ({
      methods: (found.Properties.EventPattern as { detail: { method: string[] } }).detail.method,
      targets: (found.Properties.Targets as Target[]).map((t) => t.Arn),
    }));
    expect(routed).toEqual([
      { methods: ['automated'], targets: [refs[0]] },
      { methods: ['conditional-automated'], targets: [refs[1]] },
    ]);
  });

  it('lets the one role start executions of those state machines and nothing else', () => {
    const { template: alone, refs } = twoMethods();
    const statements = Object.values(resourcesOf(alone, 'AWS::IAM::Policy')).flatMap((policy) =>
      statementsOf(policy.Properties.PolicyDocument),
    );
    expect(statements.map((statement) => statement.Action)).toEqual(['states:StartExecution', 'states:StartExecution']);
    expect(statements.map((statement) => statement.Resource)).toEqual(refs);
  });
});
