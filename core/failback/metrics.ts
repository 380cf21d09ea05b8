import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * Every metric the failback handlers publish, in one place: name, unit, the record it travels in and what it means.
 * Handlers emit only through `FailbackMetrics`; the dashboard and alarms in lib/ graph these names. Metrics are
 * CloudWatch Embedded Metric Format (EMF) records built by Powertools Metrics and written as one JSON line to a sink:
 * stdout on Lambda (CloudWatch Logs extracts them), nothing or a test's capture elsewhere.
 *
 * Cardinality: records carry the run id (and the volume key) as dimensions, so every run creates its own time series
 * (~10 per volume). That is the point for a DR tool that runs a few times a year: an operator watches *this* run's
 * volumes. Each series costs only for the hours a run publishes it. Every record is also published under the
 * `service` dimension alone, one series per metric for all runs, which the alarms watch.
 */

export const METRICS_NAMESPACE = 'Homebound';
/** The Powertools service name: its `service` dimension is on every record. */
export const METRICS_SERVICE = 'homebound';
export const SERVICE_DIMENSION = 'service';

/** The records handlers emit and the dimension sets each is published under (besides `service` alone). */
export const METRIC_RECORDS = {
  /** One StreamPass invocation of one volume's pass. */
  volume: [['RunId', 'VolumeKey']],
  /** One run-level event: a recorded pass, an approval requested or settled. */
  run: [['RunId']],
  /** A Task that failed; `RunId` is `-` when the input had none. */
  taskError: [['RunId'], ['Task', 'ErrorName']],
} as const satisfies Record<string, readonly (readonly string[])[]>;
export type MetricRecord = keyof typeof METRIC_RECORDS;

export interface MetricDefinition {
  readonly unit: (typeof MetricUnit)[keyof typeof MetricUnit];
  readonly record: MetricRecord;
  /** How the dashboard aggregates it over a period. */
  readonly statistic: 'Sum' | 'Average' | 'Maximum' | 'Minimum';
  readonly description: string;
}

export const FAILBACK_METRICS = {
  StreamThroughput: {
    unit: MetricUnit.BytesPerSecond,
    record: 'volume',
    statistic: 'Average',
    description: 'Bytes read from EBS per second of streaming in one StreamPass invocation',
  },
  BytesRemaining: {
    unit: MetricUnit.Bytes,
    record: 'volume',
    statistic: 'Minimum',
    description: "Bytes of the volume's pass still to stream when the invocation returned (0 once sealed)",
  },
  BlocksRead: {
    unit: MetricUnit.Count,
    record: 'volume',
    statistic: 'Sum',
    description: 'GetSnapshotBlock calls answered with a verified block',
  },
  ThrottledCalls: {
    unit: MetricUnit.Count,
    record: 'volume',
    statistic: 'Sum',
    description: 'GetSnapshotBlock calls throttled by EBS (the rate governor slows down and retries them)',
  },
  RetriedCalls: {
    unit: MetricUnit.Count,
    record: 'volume',
    statistic: 'Sum',
    description: 'GetSnapshotBlock calls retried after a 5xx, a dropped connection or a checksum mismatch',
  },
  VolumeBytesChanged: {
    unit: MetricUnit.Bytes,
    record: 'volume',
    statistic: 'Maximum',
    description: "Bytes the volume's sealed pass carries (blocks listed × 512 KiB)",
  },
  PassBytesChanged: {
    unit: MetricUnit.Bytes,
    record: 'run',
    statistic: 'Maximum',
    description: 'Bytes a recorded pass changed over all volumes: what convergence compares with its threshold',
  },
  PassDuration: {
    unit: MetricUnit.Seconds,
    record: 'run',
    statistic: 'Maximum',
    description: "A recorded pass from its snapshot to every volume's pass durable on the target",
  },
  ConvergenceRatio: {
    unit: MetricUnit.Percent,
    record: 'run',
    statistic: 'Maximum',
    description: 'PassBytesChanged as a percentage of the convergence threshold (an incremental pass ≤ 100 converged)',
  },
  ApprovalsPending: {
    unit: MetricUnit.Count,
    record: 'run',
    statistic: 'Maximum',
    description: '1 once RequestApproval asked for the cutover decision; 0 at every snapshot set and at rollback',
  },
  TaskErrors: {
    unit: MetricUnit.Count,
    record: 'taskError',
    statistic: 'Sum',
    description: 'A Task invocation that failed, by Task and error name (Step Functions may retry it)',
  },
} as const satisfies Record<string, MetricDefinition>;
export type FailbackMetricName = keyof typeof FAILBACK_METRICS;

/** Where EMF records go: one JSON document per call. */
export type EmfSink = (record: string) => void;

/** Lambda's sink: a line on stdout, written directly so the runtime's JSON log format does not wrap it. */
export const stdoutSink: EmfSink = (record) => {
  process.stdout.write(`${record}\n`);
};

type Values<R extends MetricRecord> = {
  readonly [N in FailbackMetricName as (typeof FAILBACK_METRICS)[N]['record'] extends R ? N : never]?: number;
};

/**
 * The one way handlers publish metrics. Each call builds one EMF record with a fresh Powertools Metrics instance, so
 * concurrent invocations in one process (the local runner's Map) never share a store. With no sink it does nothing.
 */
export class FailbackMetrics {
  constructor(private readonly sink: EmfSink | undefined) {}

  /** Publishes nowhere: the drill and tests that do not look at metrics. */
  static disabled(): FailbackMetrics {
    return new FailbackMetrics(undefined);
  }

  /** One StreamPass invocation of one volume's pass. */
  volumeStreamed(runId: string, volumeKey: string, values: Values<'volume'>): void {
    this.emit('volume', { RunId: runId, VolumeKey: volumeKey }, values);
  }

  /** A run-level event: a recorded pass, or the approval's state. */
  runEvent(runId: string, values: Values<'run'>): void {
    this.emit('run', { RunId: runId }, values);
  }

  /** A Task that failed with `errorName` (the class name Step Functions sees). */
  taskFailed(task: string, errorName: string, runId: string | undefined): void {
    this.emit('taskError', { RunId: runId || '-', Task: task, ErrorName: errorName || 'Error' }, { TaskErrors: 1 });
  }

  private emit(record: MetricRecord, dimensions: Readonly<Record<string, string>>, values: object): void {
    if (!this.sink) return;
    const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });
    for (const set of METRIC_RECORDS[record]) {
      metrics.addDimensions(Object.fromEntries(set.map((name) => [name, dimensions[name] ?? '-'])));
    }
    metrics.addDimensions({});
    for (const [name, value] of Object.entries(values) as [FailbackMetricName, number | undefined][]) {
      if (value === undefined || !Number.isFinite(value)) continue;
      metrics.addMetric(name, FAILBACK_METRICS[name].unit, value);
    }
    if (!metrics.hasStoredMetrics()) return;
    this.sink(JSON.stringify(metrics.serializeMetrics()));
  }
}
