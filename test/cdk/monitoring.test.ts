import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { failbackMethods } from '../../core/methods/registry.js';
import { FailbackMonitoring } from '../../lib/failback-monitoring.js';
import { TEST_TEMP_ROOT_ENV } from '../support/temp-root.js';
import { resourcesOf, synthesizeHomebound } from './synth.js';

const { template } = synthesizeHomebound();

interface AlarmQuery {
  Id: string;
  Expression?: string;
  MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: unknown[] }; Stat: string };
}
const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm');
const alarmNamed = (prefix: string) => {
  const entry = Object.entries(alarms).find(([id]) => id.startsWith(`Monitoring${prefix}`));
  if (!entry) throw new Error(`no alarm ${prefix}`);
  return entry[1].Properties as Record<string, unknown> & { Metrics: AlarmQuery[] };
};
const metricNames = (alarm: { Metrics: AlarmQuery[] }) =>
  alarm.Metrics.flatMap((query) => (query.MetricStat ? [query.MetricStat.Metric.MetricName] : [])).sort();

/** A stack with just the construct, on a placeholder state machine. */
function monitoringAlone(props: { alarmTopic?: boolean; approvalWaitAlarmAfter?: Duration } = {}) {
  const app = new App({ outdir: mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'cdk-')) });
  const stack = new Stack(app, 'MonitoringAlone', { env: { account: '123456789012', region: 'eu-west-1' } });
  const stateMachine = new sfn.StateMachine(stack, 'Machine', {
    definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Nothing')),
  });
  const alarmTopic = props.alarmTopic ? new sns.Topic(stack, 'Operators') : undefined;
  new FailbackMonitoring(stack, 'Monitoring', {
    stateMachines: [{ method: { name: 'automated', constructId: 'AutomatedFailback' }, stateMachine }],
    ...(alarmTopic ? { alarmTopic } : {}),
    ...(props.approvalWaitAlarmAfter ? { approvalWaitAlarmAfter: props.approvalWaitAlarmAfter } : {}),
  });
  return Template.fromStack(stack);
}

describe('dashboard and alarms', () => {
  it("has a failed-run alarm per method and the two handler alarms, each notifying the operators' topic", () => {
    expect(Object.keys(alarms)).toHaveLength(failbackMethods.length + 2);
    const topicIds = Object.keys(resourcesOf(template, 'AWS::SNS::Topic'));
    expect(topicIds).toHaveLength(1); // no topic of its own when the stack passes one
    const topicId = topicIds.find((id) => id.startsWith('Notifications'));
    for (const alarm of Object.values(alarms)) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    }
  });

  it('raises the failed-run alarm on one execution failed, timed out or aborted', () => {
    const alarm = alarmNamed('FailedRun');
    expect(metricNames(alarm)).toEqual(['ExecutionsAborted', 'ExecutionsFailed', 'ExecutionsTimedOut']);
    expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(alarm.Metrics.find((query) => query.Expression)?.Expression).toBe(
      'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
    );
  });

  it('raises the approval alarm when ApprovalsPending stayed ≥ 1 for every period of an hour', () => {
    const alarm = alarmNamed('ApprovalWaiting');
    expect(metricNames(alarm)).toEqual(['ApprovalsPending']);
    expect(alarm).toMatchObject({ EvaluationPeriods: 4, DatapointsToAlarm: 4, Threshold: 1 });
    expect(alarm.Metrics.find((query) => query.Expression)?.Expression).toBe('FILL(pending, REPEAT)');
    // The all-runs series: an alarm cannot SEARCH, and a run id is unknown at deploy time.
    expect(alarm.Metrics.find((query) => query.MetricStat)?.MetricStat?.Metric.Dimensions).toEqual([
      { Name: 'service', Value: 'homebound' },
    ]);
  });

  it('raises the throttling alarm on a throttled share above 20% for three 5-minute periods', () => {
    const alarm = alarmNamed('SustainedThrottling');
    expect(metricNames(alarm)).toEqual(['BlocksRead', 'ThrottledCalls']);
    expect(alarm).toMatchObject({ EvaluationPeriods: 3, DatapointsToAlarm: 3, Threshold: 20 });
  });

  it('encrypts the default alarm topic with a rotated key CloudWatch may use from this account only, TLS only', () => {
    const template = monitoringAlone();
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      Description: 'homebound alarm topic',
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': '123456789012' } }),
          }),
        ]),
      },
    });
  });

  it('uses a topic passed in and creates none', () => {
    const alone = monitoringAlone({ alarmTopic: true });
    alone.resourceCountIs('AWS::SNS::Topic', 1);
    alone.resourceCountIs('AWS::KMS::Key', 0);
    const [topicId] = Object.keys(alone.findResources('AWS::SNS::Topic'));
    expect(topicId).toMatch(/^Operators/);
    for (const alarm of Object.values(alone.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    }
  });

  it('refuses an approval alarm age it cannot evaluate (over a day)', () => {
    expect(() => monitoringAlone({ approvalWaitAlarmAfter: Duration.hours(25) })).toThrow(/approvalWaitAlarmAfter/);
  });

  it("graphs the state machine's executions and duration", () => {
    const [dashboard] = Object.values(resourcesOf(template, 'AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const name of ['ExecutionsStarted', 'ExecutionsSucceeded', 'ExecutionsFailed', 'ExecutionTime']) {
      expect(body).toContain(`\\"AWS/States\\",\\"${name}\\"`);
    }
  });
});

describe('monitoring of several methods', () => {
  it('gives each state machine its own failed-run alarm and dashboard row, the handler alarms once', () => {
    const app = new App({ outdir: mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'cdk-')) });
    const stack = new Stack(app, 'TwoMethods', { env: { account: '123456789012', region: 'eu-west-1' } });
    const machine = (id: string) =>
      new sfn.StateMachine(stack, id, {
        definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, `${id}Pass`)),
      });
    const monitoring = new FailbackMonitoring(stack, 'Monitoring', {
      stateMachines: [
        { method: { name: 'automated', constructId: 'AutomatedFailback' }, stateMachine: machine('Automated') },
        {
          method: { name: 'conditional-automated', constructId: 'ConditionalFailback' },
          stateMachine: machine('Conditional'),
        },
      ],
    });
    const synthesized = Template.fromStack(stack);
    const found = Object.entries(resourcesOf(synthesized, 'AWS::CloudWatch::Alarm'));

    expect(found).toHaveLength(4);
    expect(Object.keys(monitoring.failedRunAlarms)).toEqual(['automated', 'conditional-automated']);
    const failedRun = found.filter(([id]) => id.startsWith('MonitoringFailedRun'));
    const watched = failedRun.map(([, alarm]) =>
      JSON.stringify((alarm.Properties.Metrics as AlarmQuery[]).map((query) => query.MetricStat?.Metric.Dimensions)),
    );
    expect(watched[0]).toContain('Automated');
    expect(watched[1]).toContain('Conditional');
    expect(watched[0]).not.toContain('Conditional');
    const [dashboard] = Object.values(resourcesOf(synthesized, 'AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    expect(body).toContain('Runs of the automated method');
    expect(body).toContain('Runs of the conditional-automated method');
  });
});
