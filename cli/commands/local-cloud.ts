import { mkdir } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidInputError } from '../../core/errors.js';
import {
  AGENT_ACTIVITY_NAME,
  DEFAULT_STAGING_BUCKET,
  ensureSampleSnapshot,
  type LocalCloud,
  startLocalCloud,
} from '../../core/localcloud/index.js';
import { addEbsFaultOptions, bucketName, ebsFaultsFrom, integerAtLeast, portWithNext } from '../options.js';
import { writableDir } from '../paths.js';

interface LocalCloudOptions {
  dir: string;
  bucket?: string[];
  seed: number;
  port?: number;
  sampleSnapshot?: boolean;
}

/** `homebound local-cloud`: the local EBS, S3 and Step Functions activity servers in the foreground, until Ctrl-C. */
export function registerLocalCloud(program: Command): void {
  const command = program
    .command('local-cloud')
    .description(
      'Run the local cloud (EBS direct API, S3, Step Functions activities) in the foreground and print its endpoints and credentials',
    )
    .option('--dir <dir>', 'where snapshots, volumes and staging live', '.homebound/cloud')
    .option(
      '--bucket <name...>',
      `buckets to create (default: ${DEFAULT_STAGING_BUCKET})`,
      // No commander default: a variadic parser would get it as the list to add the first name to.
      (value: string, previous: string[] | undefined) => [...(previous ?? []), bucketName(value)],
    );
  addEbsFaultOptions(command, '')
    .option('--seed <n>', 'seed of the fault decisions', integerAtLeast(0), 1)
    .option(
      '--port <n>',
      'listen on fixed ports: EBS on <n>, S3 on <n>+1, the activity API on <n>+2 (default: free ports, new each start)',
      portWithNext(2),
    )
    .option(
      '--sample-snapshot',
      'start with a small completed sample snapshot (8 MiB, 5 written blocks) and print its id as HOMEBOUND_SAMPLE_SNAPSHOT_ID',
    )
    .action(async (options: LocalCloudOptions) => {
      const dir = await writableDir('--dir', options.dir);
      const buckets = options.bucket ?? [DEFAULT_STAGING_BUCKET];
      await mkdir(dir, { recursive: true });
      const cloud = await startOnPorts(options.port, {
        dir,
        buckets,
        ebs: ebsFaultsFrom(options, ''),
        seed: options.seed,
      });
      // Made before the KEY=value lines, so a reader of those lines has the whole set once it sees any.
      const sample = options.sampleSnapshot
        ? await ensureSampleSnapshot(cloud.store, cloud.volumesDir).catch(async (error: unknown) => {
            await cloud.stop();
            throw error;
          })
        : undefined;
      for (const [key, value] of Object.entries(cloud.env())) console.log(`${key}=${value}`);
      if (sample) {
        console.log(`HOMEBOUND_SAMPLE_SNAPSHOT_ID=${sample.snapshotId}`);
        console.error(
          `sample snapshot ${sample.snapshotId}; try: aws ebs list-snapshot-blocks --snapshot-id ${sample.snapshotId} --endpoint-url ${cloud.ebsEndpoint}`,
        );
      }
      console.error(
        `local cloud running in ${dir}; buckets: ${buckets.join(', ')}; activity ${cloud.activityArns[AGENT_ACTIVITY_NAME]}. Ctrl-C stops it.`,
      );
      await new Promise<void>((resolveStop) => {
        const stop = () => resolveStop();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await cloud.stop();
    });
}

/** startLocalCloud on `port`, `port + 1` and `port + 2` when given; a port in use is a named error naming the flag. */
async function startOnPorts(
  port: number | undefined,
  options: Parameters<typeof startLocalCloud>[0],
): Promise<LocalCloud> {
  if (port === undefined) return startLocalCloud(options);
  try {
    return await startLocalCloud({ ...options, ebsPort: port, s3Port: port + 1, sfnPort: port + 2 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    const taken = (error as { port?: number }).port ?? `${port}, ${port + 1} or ${port + 2}`;
    throw new InvalidInputError(`--port ${port}: port ${taken} on 127.0.0.1 is in use; choose another --port`, {
      cause: error,
    });
  }
}
