import { setTimeout as sleep } from 'node:timers/promises';
import { EC2Client } from '@aws-sdk/client-ec2';
import { type Command, InvalidArgumentError } from 'commander';
import type { RunStatus } from '../../core/adapters/aws/failback-executions.js';
import { renderStatusTable } from '../../core/failback/progress.js';
import { runStatus, type StateMachineOptions, withStateMachineOptions } from '../state-machine.js';
import {
  awsVolumeStatusReader,
  localRunId,
  localVolumeStatusReader,
  readVolumeStatuses,
  type VolumeStatusReader,
} from '../status/volume-status.js';

interface StatusOptions extends StateMachineOptions {
  json?: boolean;
  bucket?: string;
  workDir?: string;
  /** `true` for `--watch` without a number. */
  watch?: number | true;
}

const DEFAULT_WATCH_SECONDS = 5;

/**
 * `homebound status`: where a run stands — on AWS from DescribeExecution and its history, and per host and volume from
 * the run's records in the staging bucket; for a local drill from its work dir. `--watch` refreshes until Ctrl-C.
 */
export function registerStatus(program: Command): void {
  withStateMachineOptions(
    program
      .command('status')
      .description(
        'Show a failback run: status, current state, passes, approval, failure cause, and a table of its hosts and volumes',
      )
      .argument('[run]', 'run id (execution name) or execution ARN (default: the latest run)')
      .option('--json', 'print the status as JSON')
      .option(
        '--bucket <name>',
        'the staging bucket holding the run records, for the volume table (default: $HOMEBOUND_STAGING_BUCKET; the stack output StagingBucketName)',
      )
      .option(
        '--work-dir <dir>',
        "a local drill's work dir (homebound drill --work-dir): show its run instead of one on AWS",
      )
      .option(
        '--watch [seconds]',
        `refresh every N seconds until Ctrl-C (default ${DEFAULT_WATCH_SECONDS})`,
        (value: string) => {
          const seconds = Number(value);
          if (!Number.isFinite(seconds) || seconds < 1) {
            throw new InvalidArgumentError(`--watch takes a number of seconds of at least 1, not ${value}`);
          }
          return seconds;
        },
      ),
  ).action(async (run: string | undefined, options: StatusOptions) => {
    const watchSeconds = options.watch === true ? DEFAULT_WATCH_SECONDS : options.watch;
    const interactive = process.stdout.isTTY === true;
    const show = options.workDir === undefined ? awsStatus(options) : await localStatus(options.workDir);
    try {
      for (;;) {
        const text = await show(run, options.json === true);
        // A terminal gets the table in place; a pipe gets one status after another.
        if (watchSeconds !== undefined && interactive) process.stdout.write('\x1b[2J\x1b[H');
        console.log(text);
        if (watchSeconds === undefined) return;
        await sleep(watchSeconds * 1000);
      }
    } finally {
      await show.close();
    }
  });
}

type StatusShow = ((run: string | undefined, json: boolean) => Promise<string>) & { close(): Promise<void> };

/** A local drill's run: its local S3 is served once for every refresh; the run is chosen again at each. */
async function localStatus(workDir: string): Promise<StatusShow> {
  const reader = await localVolumeStatusReader(workDir);
  const show = async (run: string | undefined, json: boolean) => {
    const runId = await localRunId(reader, workDir, run);
    const volumes = await readVolumeStatuses(reader, runId);
    return json
      ? JSON.stringify({ runId, workDir, volumes }, null, 2)
      : [`run ${runId} (local drill in ${workDir})`, renderStatusTable(volumes)].join('\n');
  };
  return Object.assign(show, { close: () => reader.close() });
}

/** A run on AWS: its execution, and with a staging bucket its volumes (the clients made at the first refresh). */
function awsStatus(options: StatusOptions): StatusShow {
  const bucket = options.bucket ?? (process.env.HOMEBOUND_STAGING_BUCKET || undefined);
  let reader: VolumeStatusReader | undefined;
  const show = async (run: string | undefined, json: boolean) => {
    const status = await runStatus(options, run);
    if (bucket && !reader) {
      const region = status.executionArn.split(':')[3];
      reader = awsVolumeStatusReader({ bucket, ec2: new EC2Client({ region }), region });
    }
    const volumes = reader ? await readVolumeStatuses(reader, status.runId) : undefined;
    if (json) return JSON.stringify({ ...status, ...(volumes ? { volumes } : {}) }, null, 2);
    return [
      describeStatus(status),
      volumes
        ? renderStatusTable(volumes)
        : 'volumes: pass --bucket <staging bucket> (or set HOMEBOUND_STAGING_BUCKET; the stack output StagingBucketName) for the table of hosts and volumes',
    ].join('\n');
  };
  return Object.assign(show, { close: async () => reader?.close() });
}

/** The status for a terminal, one fact per line. */
export function describeStatus(status: RunStatus): string {
  const lines = [
    `run ${status.runId}: ${status.status}`,
    `started ${status.startDate}${status.stopDate ? `, ended ${status.stopDate}` : ''}`,
    `${status.status === 'RUNNING' ? 'current state' : 'last state'}: ${status.currentState ?? '(none yet)'}`,
    `passes recorded: ${status.passes}`,
  ];
  if (status.waitingForApproval) lines.push('waiting for the cutover approval (issue it through the approval channel)');
  if (status.error) lines.push(`error: ${status.error}${status.cause ? `: ${status.cause}` : ''}`);
  lines.push(`execution: ${status.executionArn}`);
  return lines.join('\n');
}
