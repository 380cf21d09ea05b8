import type { Template } from 'aws-cdk-lib/assertions';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_RECORDS, METRICS_NAMESPACE } from '../../core/failback/metrics.js';
import { createTaskHandler } from '../../core/failback/task-handler.js';
import { failbackTasks } from '../../core/failback/tasks.js';
import { synthesizeHomebound } from '../cdk/synth.js';
import { type FailbackFixture, startFailbackFixture } from '../support/failback.js';

/** One EMF record as CloudWatch Logs reads it. */
interface EmfRecord {
  _aws: {
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
  };
  [key: string]: unknown;
}

const records: EmfRecord[] = [];
let fixture: FailbackFixture;
let rejectedRun: EmfRecord[];

beforeAll(async () => {
  // 5% of EBS reads throttled, so the streamer's throttle count has something to report.
  fixture = await startFailbackFixture({
    metricsSink: (record) => records.push(JSON.parse(record) as EmfRecord),
    ebsFaults: { throttleRate: 0.05 },
  });
  const host = await fixture.takeoverHost('metrics', 21);
  const execution = fixture.env.machine.run(fixture.request([host.hostId]), { executionName: 'metrics-run' });
  const request = await fixture.env.approvals.next();
  fixture.env.approvals.reject(request.runId, 'test', 'metrics only');
  await execution.result.catch(() => undefined);
  // A real handler failing: the middy chain counts it.
  const handler = createTaskHandler('CheckHosts', failbackTasks.CheckHosts, () => fixture.env.deps);
  const context = { getRemainingTimeInMillis: () => 60_000, functionName: 'f', awsRequestId: 'r' } as Context;
  await Promise.resolve(handler({ runId: 'metrics-run', hostIds: 'not-a-list' }, context)).catch(() => undefined);
  rejectedRun = records.filter((record) => record.RunId === 'metrics-run');
}, 120_000);
afterAll(async () => {
  await fixture?.stop();
});

const namesOf = (record: EmfRecord) =>
  record._aws.CloudWatchMetrics.flatMap((block) => block.Metrics.map((m) => m.Name));
const valuesOf = (name: string, of: EmfRecord[] = rejectedRun) =>
  of.filter((record) => namesOf(record).includes(name)).map((record) => record[name]);

/** Metric names of namespace Homebound a dashboard body graphs: SEARCH expressions and plain metric arrays. */
function dashboardMetricNames(template: Template): Set<string> {
  const names = new Set<string>();
  for (const dashboard of Object.values(template.findResources('AWS::CloudWatch::Dashboard'))) {
    const parts = (dashboard.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
    const body = JSON.parse(parts.map((part) => (typeof part === 'string' ? part : 'TOKEN')).join('')) as {
      widgets: { properties: { metrics?: unknown[][] } }[];
    };
    for (const line of body.widgets.flatMap((widget) => widget.properties.metrics ?? [])) {
      const [first, second] = line;
      if (typeof first === 'object' && first !== null && 'expression' in first) {
        const search = /^SEARCH\('\{([^,}]+)[^}]*\} MetricName="(\w+)"'/.exec(String(first.expression));
        if (search?.[1] === METRICS_NAMESPACE && search[2]) names.add(search[2]);
      } else if (first === METRICS_NAMESPACE && typeof second === 'string') {
        names.add(second);
      }
    }
  }
  return names;
}

/** Metric names of namespace Homebound the alarms evaluate. */
function alarmMetricNames(template: Template): Set<string> {
  const names = new Set<string>();
  for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
    const queries = (alarm.Properties.Metrics ?? []) as { MetricStat?: { Metric: Record<string, string> } }[];
    for (const metric of queries.flatMap((query) => (query.MetricStat ? [query.MetricStat.Metric] : []))) {
      if (metric.Namespace === METRICS_NAMESPACE && metric.MetricName) names.add(metric.MetricName);
    }
  }
  return names;
}

describe('handler metrics (EMF captured from a real run on the local cloud)', () => {
  it('publishes every record in namespace Homebound under its declared dimension sets and service alone', () => {
    expect(rejectedRun.length).toBeGreaterThan(5);
    for (const record of rejectedRun) {
      const [block] = record._aws.CloudWatchMetrics;
      expect(block?.Namespace).toBe('Homebound');
      const declared = Object.values(METRIC_RECORDS).map((sets) => [
        ...sets.map((set) => ['service', ...set]),
        ['service'],
      ]);
      expect(declared).toContainEqual(block?.Dimensions);
      expect(record.service).toBe('homebound');
    }
  });

  it("reports each volume's bytes still to stream, ending at 0, and the throttled calls the streamer counted", () => {
    const byVolume = new Map<string, unknown[]>();
    for (const record of rejectedRun.filter((candidate) => 'BytesRemaining' in candidate)) {
      byVolume.set(String(record.VolumeKey), [
        ...(byVolume.get(String(record.VolumeKey)) ?? []),
        record.BytesRemaining,
      ]);
    }
    expect(byVolume.size).toBe(2);
    for (const remaining of byVolume.values()) expect(remaining.at(-1)).toBe(0);
    const throttled = valuesOf('ThrottledCalls').reduce((sum: number, value) => sum + Number(value), 0);
    expect(throttled).toBeGreaterThan(0);
    expect(valuesOf('StreamThroughput').every((value) => Number(value) > 0)).toBe(true);
  });

  it('records each pass once with its size, duration and size against the threshold', () => {
    const passes = valuesOf('PassBytesChanged');
    expect(passes.length).toBeGreaterThanOrEqual(2);
    expect(valuesOf('PassDuration')).toHaveLength(passes.length);
    // A full pass of 2 × 8 MiB against a 64 MiB threshold.
    expect(Number(valuesOf('ConvergenceRatio')[0])).toBeGreaterThan(0);
    expect(Number(valuesOf('ConvergenceRatio')[0])).toBeLessThanOrEqual(100 * (16.1 / 64));
  });

  it('shows the approval pending from the request until the rollback settles it', () => {
    expect(valuesOf('ApprovalsPending').slice(-2)).toEqual([1, 0]);
    expect(
      valuesOf('ApprovalsPending')
        .slice(0, -2)
        .every((value) => value === 0),
    ).toBe(true);
  });

  it('counts a failed Task by Task and error name, and by run', () => {
    const [error] = rejectedRun.filter((record) => 'TaskErrors' in record);
    expect(error).toMatchObject({ TaskErrors: 1, Task: 'CheckHosts', ErrorName: 'TaskInputError' });
    expect(error?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([
      ['service', 'RunId'],
      ['service', 'Task', 'ErrorName'],
      ['service'],
    ]);
  });

  it('emits exactly the metric names the dashboard graphs, and the alarms watch only emitted ones', () => {
    const emitted = new Set(records.flatMap(namesOf));
    const { template } = synthesizeHomebound();
    const graphed = dashboardMetricNames(template);
    const alarmed = alarmMetricNames(template);
    expect([...graphed].sort()).toEqual([...emitted].sort());
    expect(alarmed.size).toBeGreaterThan(0);
    expect([...alarmed].filter((name) => !emitted.has(name))).toEqual([]);
  });
});
