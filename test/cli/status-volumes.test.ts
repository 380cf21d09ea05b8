import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsVolumeStatusReader, readVolumeStatuses } from '../../cli/status/volume-status.js';
import { createS3Client } from '../../core/adapters/aws/clients.js';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import {
  readRunRecords,
  renderStatusTable,
  type VolumeStatus,
  volumeStatuses,
  writeVolumeProgress,
} from '../../core/failback/progress.js';
import { runLayout } from '../../core/failback/run-state.js';
import type { PassRecord } from '../../core/failback/steps/record-pass.js';
import { type LocalS3Server, startS3Server } from '../../core/localcloud/index.js';
import { runCli, startCli } from '../support/cli.js';

const MiB = 1024 * 1024;
let dir: string;
let s3Server: LocalS3Server;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hb-status-'));
  s3Server = await startS3Server({ directory: join(dir, 's3'), buckets: ['status-bucket'] });
});
afterAll(async () => {
  await s3Server?.close();
  await rm(dir, { recursive: true, force: true });
});

function records(runId: string) {
  const s3 = createS3Client({ endpoint: s3Server.endpoint, region: 'us-east-1', credentials: s3Server.credentials });
  return new S3Staging(s3, { bucket: 'status-bucket', prefix: runLayout.record(runId) });
}

function passRecord(passNumber: number, volumeKeys: string[], final = false): PassRecord {
  return {
    passNumber,
    kind: passNumber === 1 ? 'full' : 'incremental',
    final,
    startedAt: '2026-12-03T08:00:00.000Z',
    appliedAt: `2026-12-03T08:0${passNumber}:00.000Z`,
    seconds: 60,
    bytesChanged: MiB,
    bytesStaged: MiB,
    volumes: volumeKeys.map((volumeKey) => ({
      volumeKey,
      snapshotId: `snap-${passNumber}`,
      blocksListed: 2,
      bytesChanged: MiB,
      bytesStaged: MiB,
      invocations: 1,
    })),
  };
}

const progress = (volumeKey: string, hostId: string, passNumber: number, phase: 'streaming' | 'staged') => ({
  runId: 'run-s',
  volumeKey,
  hostId,
  volumeId: `vol-${volumeKey}`,
  passNumber,
  kind: passNumber === 1 ? ('full' as const) : ('incremental' as const),
  phase,
  bytesRemaining: phase === 'streaming' ? 96 * MiB : 0,
  ...(phase === 'staged' ? { bytesStaged: 3 * MiB } : {}),
  throughputBytesPerSecond: 40 * MiB,
  updatedAt: '2026-12-03T08:05:00.000Z',
});

describe('the run records homebound status reads', () => {
  it('tells a volume streaming, one staged and waiting for its ack, and one in sync, from the records alone', async () => {
    const run = records('run-s');
    await writeVolumeProgress(run, progress('db-a', 'i-db', 3, 'streaming'));
    await writeVolumeProgress(run, progress('db-b', 'i-db', 3, 'staged'));
    await writeVolumeProgress(run, progress('app-a', 'i-app', 2, 'staged'));
    for (const pass of [passRecord(1, ['db-a', 'db-b', 'app-a']), passRecord(2, ['db-a', 'db-b', 'app-a'])]) {
      await run.put(runLayout.passRecordKey(pass.passNumber), Buffer.from(JSON.stringify(pass)));
    }

    const rows = volumeStatuses(
      await readRunRecords(run),
      new Map([
        ['i-db', 'running'],
        ['i-app', 'stopped'],
      ]),
    );

    const byVolume = new Map(rows.map((row) => [row.volumeKey, row]));
    expect(byVolume.get('db-a')).toMatchObject({
      state: 'streaming pass 3',
      hostState: 'running',
      bytesBehind: 96 * MiB,
      throughputBytesPerSecond: 40 * MiB,
    });
    expect(byVolume.get('db-b')).toMatchObject({ state: 'applying pass 3', bytesBehind: 3 * MiB });
    expect(byVolume.get('app-a')).toMatchObject({
      state: 'in sync at pass 2',
      hostState: 'stopped',
      bytesBehind: 0,
      passKind: 'incremental',
    });
    const table = renderStatusTable(rows).split('\n');
    expect(table[0]).toMatch(/^HOST\s+HOST STATE\s+WAVE\s+VOLUME\s+STATE\s+PASS\s+MiB BEHIND\s+MiB\/s\s+LAST UPDATE$/);
    expect(table.find((line) => line.includes('db-a'))).toMatch(/streaming pass 3\s+3 incremental\s+96\.0\s+40\.0/);
  });

  it('on AWS: the records from the staging bucket, the host states from DescribeInstances', async () => {
    const ec2 = mockClient(EC2Client);
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        { Instances: [{ InstanceId: 'i-db', State: { Name: 'stopped' } }] },
        { Instances: [{ InstanceId: 'i-app', State: { Name: 'shutting-down' } }] },
      ],
    });
    const previous = process.env.AWS_ENDPOINT_URL_S3;
    process.env.AWS_ENDPOINT_URL_S3 = s3Server.endpoint;
    process.env.AWS_ACCESS_KEY_ID = s3Server.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3Server.credentials.secretAccessKey;
    try {
      const reader = awsVolumeStatusReader({
        bucket: 'status-bucket',
        ec2: new EC2Client({ region: 'us-east-1' }),
        region: 'us-east-1',
      });
      const rows = await readVolumeStatuses(reader, 'run-s');
      await reader.close();
      expect(rows.map((row) => [row.volumeKey, row.hostState])).toEqual([
        ['app-a', 'stopping'],
        ['db-a', 'stopped'],
        ['db-b', 'stopped'],
      ]);
      const filters = ec2.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.Filters;
      expect(filters?.[0]?.Values?.sort()).toEqual(['i-app', 'i-db']);
    } finally {
      ec2.restore();
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_S3;
      else process.env.AWS_ENDPOINT_URL_S3 = previous;
    }
  });
});

describe('homebound status --work-dir (a local drill)', () => {
  it('shows every volume of the drill in sync at its final pass with its wave, as JSON and as a table, and --watch refreshes', async () => {
    const workDir = join(dir, 'drill');
    const json = join(dir, 'drill.json');
    const drill = await runCli([
      'drill',
      '--auto-approve',
      '--work-dir',
      workDir,
      '--hosts',
      '2',
      '--waves',
      '2',
      '--size-mib',
      '8',
      '--json',
      json,
    ]);
    expect(drill.code, drill.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as {
      runId: string;
      passes: unknown[];
      volumes: { volumeId: string }[];
      hosts: { hostId: string; role: string; wave?: number }[];
    };
    const waveOf = new Map(report.hosts.filter((host) => host.role === 'takeover').map((h) => [h.hostId, h.wave]));
    expect([...new Set(waveOf.values())].sort()).toEqual([1, 2]);

    const status = await runCli(['status', '--work-dir', workDir, '--json']);
    expect(status.code, status.stderr).toBe(0);
    const shown = JSON.parse(status.stdout) as { runId: string; volumes: VolumeStatus[] };
    expect(shown.runId).toBe(report.runId);
    expect(shown.volumes).toHaveLength(report.volumes.length);
    for (const volume of shown.volumes) {
      expect(volume.state).toBe(`in sync at pass ${report.passes.length} (final)`);
      expect(volume.bytesBehind).toBe(0);
      // The drill retired the takeover host: stopped.
      expect(volume.hostState).toBe('stopped');
      expect(volume.wave, volume.volumeKey).toBe(waveOf.get(volume.hostId));
    }
    // Ordered by wave; the table's WAVE column says it.
    expect(shown.volumes.map((volume) => volume.wave)).toEqual([...shown.volumes.map((v) => v.wave)].sort());
    const table = await runCli(['status', '--work-dir', workDir]);
    const waveColumn = table.stdout
      .split('\n')
      .filter((line) => line.startsWith('i-'))
      .map((line) => line.split(/\s+/)[2]);
    expect(waveColumn).toEqual(shown.volumes.map((volume) => String(volume.wave)));

    const watch = startCli(['status', '--work-dir', workDir, report.runId, '--watch', '1']);
    let out = '';
    await new Promise<void>((resolve) => {
      watch.child.stdout.on('data', (chunk: Buffer) => {
        out += chunk;
        if (out.split(`run ${report.runId}`).length > 2) resolve();
      });
    });
    watch.child.kill('SIGINT');
    await watch.done;
    expect(out).toContain('in sync at pass');
  }, 120_000);

  it('names the work dir that holds no drill', async () => {
    const result = await runCli(['status', '--work-dir', join(dir, 'nothing-here')]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`--work-dir ${join(dir, 'nothing-here')} holds no drill's local cloud`);
  });
});
