import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  FAILBACK_METRICS,
  type FailbackMetricName,
  METRIC_RECORDS,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  SERVICE_DIMENSION,
} from '../core/failback/metrics.js';
import type { MethodStateMachine } from './failback-state-machine.js';

export interface FailbackMonitoringProps {
  /** Every method's state machine: each gets its failed-run alarm (`FailedRun<constructId>`) and its dashboard row. */
  readonly stateMachines: readonly MethodStateMachine[];
  /**
   * Where alarms notify (e.g. the operators' notification topic).
   * @default a new topic encrypted with a new KMS key that CloudWatch may use
   */
  readonly alarmTopic?: sns.ITopic;
  /** An approval that waits this long raises the approval alarm; a multiple of 15 minutes, at most 1 day. @default 1 hour */
  readonly approvalWaitAlarmAfter?: Duration;
  /** Throttled share of GetSnapshotBlock calls, in percent, that raises the throttling alarm when it lasts 15 minutes. @default 20 */
  readonly throttledPercentAlarm?: number;
}

const PERIOD = Duration.minutes(5);
const APPROVAL_PERIOD = Duration.minutes(15);

/**
 * The CloudWatch dashboard of failback runs (the handlers' metrics per run and volume, found with SEARCH so every new
 * run appears without a deploy, and each method's state machine metrics) and the alarms that notify `alarmTopic`: a
 * run of a method failed (one alarm per state machine), an approval waits too long, EBS reads are throttled for a
 * sustained time (those two from the handlers' metrics, which every method shares).
 */
export class FailbackMonitoring extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarmTopic: sns.ITopic;
  /** By method name. */
  readonly failedRunAlarms: Readonly<Record<string, cloudwatch.Alarm>>;
  readonly approvalWaitingAlarm: cloudwatch.Alarm;
  readonly throttlingAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: FailbackMonitoringProps) {
    super(scope, id);
    this.alarmTopic = props.alarmTopic ?? this.encryptedTopic();
    const notify = new actions.SnsAction(this.alarmTopic);

    const sfnMetric = (metric: cloudwatch.Metric) => metric.with({ period: PERIOD, statistic: 'Sum' });
    const failedRunAlarms: Record<string, cloudwatch.Alarm> = {};
    const runWidgets: cloudwatch.IWidget[] = [];
    for (const { method, stateMachine } of props.stateMachines) {
      const failed = sfnMetric(stateMachine.metricFailed());
      const timedOut = sfnMetric(stateMachine.metricTimedOut());
      const aborted = sfnMetric(stateMachine.metricAborted());
      failedRunAlarms[method.name] = new cloudwatch.MathExpression({
        expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
        usingMetrics: { failed, timedOut, aborted },
        period: PERIOD,
        label: `${method.name} runs failed, timed out or aborted`,
      }).createAlarm(this, `FailedRun${method.constructId}`, {
        alarmDescription:
          `A failback run of the ${method.name} method failed, timed out or was aborted (a rollback ends in Fail ` +
          '"FailbackRolledBack"). Open the execution in Step Functions; its Report state says why and what was ' +
          'rolled back.',
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      runWidgets.push(
        graph(`Runs of the ${method.name} method (state machine)`, [
          sfnMetric(stateMachine.metricStarted()),
          sfnMetric(stateMachine.metricSucceeded()),
          failed,
          timedOut,
          aborted,
        ]),
        graph(`Run duration of the ${method.name} method (state machine ExecutionTime)`, [
          stateMachine.metricTime({ period: PERIOD, statistic: 'Maximum' }),
        ]),
      );
    }
    this.failedRunAlarms = failedRunAlarms;

    // ApprovalsPending is published when it changes (1 at RequestApproval, 0 at the next snapshot set or rollback),
    // not while nothing runs; FILL(REPEAT) carries the last value forward, so "every period of the window is ≥ 1"
    // means an approval was requested at least the whole window ago and not settled since.
    const waitPeriods = Math.round((props.approvalWaitAlarmAfter ?? Duration.hours(1)).toMinutes() / 15);
    if (waitPeriods < 1 || waitPeriods > 96) {
      throw new Error(`approvalWaitAlarmAfter must be 15 minutes to 1 day, got ${waitPeriods * 15} minutes`);
    }
    const pending = aggregate('ApprovalsPending', 'Maximum', APPROVAL_PERIOD);
    this.approvalWaitingAlarm = new cloudwatch.MathExpression({
      expression: 'FILL(pending, REPEAT)',
      usingMetrics: { pending },
      period: APPROVAL_PERIOD,
      label: 'approvals pending (last value carried forward)',
    }).createAlarm(this, 'ApprovalWaiting', {
      alarmDescription:
        `A cutover approval has waited ${waitPeriods * 15} minutes. The takeover hosts still serve; decide it ` +
        "(approve or reject) before the request's approval timeout rolls the run back.",
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: waitPeriods,
      datapointsToAlarm: waitPeriods,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const throttledPercent = props.throttledPercentAlarm ?? 20;
    this.throttlingAlarm = throttledShare().createAlarm(this, 'SustainedThrottling', {
      alarmDescription:
        `More than ${throttledPercent}% of GetSnapshotBlock calls were throttled for 15 minutes. The streamer slows ` +
        'down and retries, so nothing is lost, but passes take longer: something else shares the account quota, or ' +
        'the quota is lower than the default. Check Service Quotas for EBS direct APIs.',
      threshold: throttledPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const alarms = [...Object.values(failedRunAlarms), this.approvalWaitingAlarm, this.throttlingAlarm];
    for (const alarm of alarms) alarm.addAlarmAction(notify);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-failback`,
      defaultInterval: Duration.hours(12),
    });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms,
        width: 24,
        height: 2,
      }),
    );
    // Two graphs per method: a row each.
    this.dashboard.addWidgets(...runWidgets);
    this.dashboard.addWidgets(
      graph('Stream throughput per volume (bytes/s)', [perSeries('StreamThroughput')]),
      graph('Bytes still to stream per volume', [perSeries('BytesRemaining')]),
    );
    this.dashboard.addWidgets(
      graph('Bytes changed per pass (run) and per volume', [
        perSeries('PassBytesChanged'),
        perSeries('VolumeBytesChanged'),
      ]),
      graph('Convergence: pass size as % of the threshold (≤ 100 converges)', [perSeries('ConvergenceRatio')], {
        leftAnnotations: [{ value: 100, label: 'threshold' }],
      }),
    );
    this.dashboard.addWidgets(
      graph('Pass duration per run (s)', [perSeries('PassDuration')]),
      graph('Approvals pending per run', [perSeries('ApprovalsPending')]),
    );
    this.dashboard.addWidgets(
      graph('EBS reads per volume: verified, throttled, retried', [
        perSeries('BlocksRead'),
        perSeries('ThrottledCalls'),
        perSeries('RetriedCalls'),
      ]),
      graph('Throttled share of EBS reads, all runs (%)', [throttledShare()], {
        leftAnnotations: [{ value: throttledPercent, label: 'alarm' }],
      }),
    );
    this.dashboard.addWidgets(
      graph('Task errors by Task and error', [perSeries('TaskErrors', 1)]),
      graph('Task errors per run', [perSeries('TaskErrors', 0)]),
    );
  }

  /** The default alarm topic: SSE-KMS with a key whose policy lets CloudWatch alarms publish, TLS-only. */
  private encryptedTopic(): sns.Topic {
    const stack = Stack.of(this);
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: 'homebound alarm topic',
      enableKeyRotation: true,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    return new sns.Topic(this, 'AlarmTopic', { displayName: 'homebound alarms', masterKey: key, enforceSSL: true });
  }
}

/** A half-width graph of the dashboard. */
function graph(
  title: string,
  metrics: cloudwatch.IMetric[],
  extra: Partial<cloudwatch.GraphWidgetProps> = {},
): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left: metrics, width: 12, height: 6, ...extra });
}

/** One metric of the handlers over all runs: the `service`-only series every record is also published under. */
function aggregate(name: FailbackMetricName, statistic: string, period: Duration = PERIOD): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { [SERVICE_DIMENSION]: METRICS_SERVICE },
    statistic,
    period,
  });
}

/** Every run's (or volume's) series of a metric, found by SEARCH so runs started after the deploy appear. */
function perSeries(name: FailbackMetricName, setIndex = 0): cloudwatch.MathExpression {
  const definition = FAILBACK_METRICS[name];
  const set: readonly string[] = METRIC_RECORDS[definition.record][setIndex] ?? [];
  const schema = [METRICS_NAMESPACE, ...set, SERVICE_DIMENSION].join(',');
  return new cloudwatch.MathExpression({
    expression: `SEARCH('{${schema}} MetricName="${name}"', '${definition.statistic}', ${PERIOD.toSeconds()})`,
    usingMetrics: {},
    period: PERIOD,
    label: '',
  });
}

/** Throttled GetSnapshotBlock calls as a percentage of all answered ones, over all runs. */
function throttledShare(): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression: '100 * throttled / (throttled + read)',
    usingMetrics: { throttled: aggregate('ThrottledCalls', 'Sum'), read: aggregate('BlocksRead', 'Sum') },
    period: PERIOD,
    label: 'throttled %',
  });
}
