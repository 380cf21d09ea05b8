import { describe, expect, it } from 'vitest';
import { failbackMethods } from '../../core/methods/registry.js';
import { readConfig } from '../../lib/config.js';
import { getAttLogicalId, resourcesOf, statementsOf, synthesizeHomebound } from './synth.js';

const EMAILS = ['oncall@example.com', 'dr-lead@example.com'];
const { stack, template } = synthesizeHomebound({ 'homebound:notificationEmails': EMAILS.join(',') });
const stateMachineRef = stack.resolve(stack.automatedFailback.stateMachine.stateMachineArn);
const topicRef = stack.resolve(stack.notifications.topic.topicArn);

interface Target {
  Arn: unknown;
  RoleArn: unknown;
  InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string };
  DeadLetterConfig?: unknown;
}
const statusRules = Object.values(resourcesOf(template, 'AWS::Events::Rule')).filter(
  (rule) => (rule.Properties.EventPattern as { source: string[] } | undefined)?.source[0] === 'aws.states',
);
const target = (statusRules[0]?.Properties.Targets as Target[] | undefined)?.[0];

describe('operator notifications', () => {
  it("report every way a run of each method's failback ends, and nothing else", () => {
    expect(statusRules).toHaveLength(1);
    const machines = failbackMethods.map((method) =>
      stack.resolve(stack.failbackStateMachines[method.name].stateMachine.stateMachineArn),
    );
    expect(machines).toContainEqual(stateMachineRef);
    expect(statusRules[0]?.Properties.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { stateMachineArn: machines, status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] },
    });
    expect(target?.Arn).toEqual(topicRef);
  });

  it('say run name, status, time and console link, and never the execution input or output', () => {
    const { InputPathsMap: paths, InputTemplate: text } = target?.InputTransformer ?? {
      InputPathsMap: {},
      InputTemplate: '',
    };
    expect(Object.values(paths).sort()).toEqual(
      ['$.detail.executionArn', '$.detail.name', '$.detail.status', '$.region', '$.time'].sort(),
    );
    for (const path of Object.values(paths)) expect(path).not.toMatch(/input|output/i);
    expect(text).toContain('homebound run <detail-name> ended <detail-status>');
    expect(text).toContain(
      'https://<region>.console.aws.amazon.com/states/home?region=<region>#/v2/executions/details/<detail-executionArn>',
    );
  });

  it('go to a topic encrypted with a rotating key of its own', () => {
    const topic = Object.values(resourcesOf(template, 'AWS::SNS::Topic'))[0];
    const keyId = getAttLogicalId(topic?.Properties.KmsMasterKeyId);
    expect(keyId).toMatch(/^NotificationsKey/);
    expect(resourcesOf(template, 'AWS::KMS::Key')[keyId]?.Properties.EnableKeyRotation).toBe(true);
  });

  it('refuse publishers that do not use TLS', () => {
    const policies = Object.values(resourcesOf(template, 'AWS::SNS::TopicPolicy'));
    expect(policies).toHaveLength(1);
    expect(statementsOf(policies[0]?.Properties.PolicyDocument)).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 'sns:Publish',
        Principal: '*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
  });

  it('let no service publish except CloudWatch alarms of this account', () => {
    const statements = Object.values(resourcesOf(template, 'AWS::SNS::TopicPolicy')).flatMap(
      (policy) => (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement,
    );
    const allowed = statements.filter((statement) => statement.Effect === 'Allow');
    expect(allowed).toEqual([
      expect.objectContaining({
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
      }),
    ]);
  });

  it('are published through a role that may publish to this topic and use its key, nothing more', () => {
    const roleId = getAttLogicalId(target?.RoleArn);
    const statements = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
      .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(roleId))
      .flatMap(
        (policy) =>
          (policy.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement,
      );
    expect(statements.map((s) => [s.Action, s.Resource])).toEqual([
      ['sns:Publish', topicRef],
      [['kms:Decrypt', 'kms:GenerateDataKey'], { 'Fn::GetAtt': [expect.stringMatching(/^NotificationsKey/), 'Arn'] }],
    ]);
  });

  it('keep what could not be delivered in a dead-letter queue', () => {
    expect(target?.DeadLetterConfig).toEqual({
      Arn: { 'Fn::GetAtt': [expect.stringMatching(/^NotificationsDeadLetterQueue/), 'Arn'] },
    });
  });

  it('reach every address in homebound:notificationEmails by email', () => {
    const subscriptions = Object.values(resourcesOf(template, 'AWS::SNS::Subscription')).map((s) => s.Properties);
    expect(subscriptions).toEqual(EMAILS.map((email) => ({ Protocol: 'email', Endpoint: email, TopicArn: topicRef })));
  });

  it('refuse a malformed address, naming the key', () => {
    const context: Record<string, unknown> = {
      'homebound:availabilityZone': 'eu-west-1a',
      'homebound:subnetId': 'subnet-0abc',
      'homebound:imageId': 'ami-0abc',
      'homebound:instanceType': 'm7g.large',
      'homebound:takeoverTag': 'dr=yes',
      'homebound:notificationEmails': 'oncall@example.com,not-an-address',
    };
    expect(() => readConfig((key) => context[key])).toThrow(/homebound:notificationEmails\.1: /);
  });
});
