import type { Command } from 'commander';
import { assertAwsConfigured } from '../../core/adapters/aws/aws-configuration.js';
import { createS3Client } from '../../core/adapters/aws/clients.js';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import { openFileTarget } from '../../core/adapters/target/file-target.js';
import { Applier } from '../../core/engine/applier.js';
import { isValidVolumeKey } from '../../core/engine/layout.js';
import { InvalidInputError } from '../../core/errors.js';
import { awsConnectionsFromEnv } from '../aws-env.js';
import { bucketName, integerAtLeast, keyPrefix } from '../options.js';
import { writableDir } from '../paths.js';

interface ApplyOptions {
  volumeKey: string;
  bucket: string;
  prefix: string;
  target: string;
  stateDir: string;
  pass?: number;
  createSize?: number;
  maxWriteMibps?: number;
  follow?: boolean;
  pollMs: number;
}

/** `homebound apply`: the applier — staged passes onto a target disk, in order, whole, resumable. */
export function registerApply(program: Command): void {
  program
    .command('apply')
    .description('Apply staged passes to a target disk or image file (in order, verified, resumable after a crash)')
    .requiredOption('--volume-key <key>', 'name of the volume in staging')
    .requiredOption('--bucket <name>', 'staging bucket', bucketName)
    .option('--prefix <prefix>', 'key prefix inside the bucket, e.g. runs/run-1/', keyPrefix, '')
    .requiredOption('--target <path>', 'block device or image file to write')
    .requiredOption('--state-dir <dir>', 'journal and spool directory (keep it across restarts)')
    .option('--pass <n>', 'apply exactly this pass (default: every sealed pass not yet applied)', integerAtLeast(1))
    .option(
      '--create-size <bytes>',
      'create the target as a sparse image of this size if it does not exist',
      integerAtLeast(1),
    )
    .option('--max-write-mibps <n>', 'cap write throughput on the target', integerAtLeast(1))
    .option('--follow', 'wait for passes as they are staged and apply each once sealed (until SIGTERM, or --pass)')
    .option('--poll-ms <n>', 'with --follow: how often to look for new segments', integerAtLeast(10), 1000)
    .action(async (options: ApplyOptions) => {
      if (!isValidVolumeKey(options.volumeKey))
        throw new InvalidInputError(`--volume-key "${options.volumeKey}" is not a valid volume key`);
      await writableDir('--state-dir', options.stateDir);
      const aws = awsConnectionsFromEnv();
      const s3 = createS3Client(aws.s3);
      await assertAwsConfigured(s3, { purpose: `staging bucket ${options.bucket}` });
      const staging = new S3Staging(s3, { bucket: options.bucket, prefix: options.prefix });
      await staging.assertReady();
      const target = await openFileTarget(
        options.target,
        options.createSize ? { createWithSize: options.createSize } : {},
      );
      try {
        const applier = await Applier.open({
          staging,
          volumeKey: options.volumeKey,
          target,
          stateDir: options.stateDir,
          ...(options.maxWriteMibps ? { maxWriteMiBps: options.maxWriteMibps } : {}),
        });
        if (options.follow) {
          await follow(applier, options);
          return;
        }
        const reports = options.pass ? [await applier.applyPass(options.pass)] : await applier.applyAvailable();
        for (const report of reports) console.log(JSON.stringify(report));
        if (reports.length === 0)
          console.error(`homebound: no sealed pass after pass ${applier.lastAppliedPass} to apply`);
      } finally {
        await target.close();
      }
    });
}

/** The sync gateway's loop: apply each next pass as it is staged, until SIGTERM/SIGINT (or the one --pass asked for). */
async function follow(applier: Applier, options: ApplyOptions): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    do {
      const next = options.pass ?? applier.lastAppliedPass + 1;
      console.error(`homebound: following pass ${next} of ${options.volumeKey}`);
      const report = await applier.followPass(next, { pollMs: options.pollMs, signal: stop.signal });
      console.log(JSON.stringify({ ...report, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
    } while (!options.pass);
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
