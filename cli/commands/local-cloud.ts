import { mkdir } from 'node:fs/promises';
import type { Command } from 'commander';
import { startLocalCloud } from '../../core/localcloud/index.js';
import { integerAtLeast, numberBetween } from '../options.js';
import { writableDir } from '../paths.js';

interface LocalCloudOptions {
  dir: string;
  bucket: string[];
  latencyMs: number;
  quota?: number;
  throttleRate: number;
  errorRate: number;
  corruptBlocks: number;
  shortPages?: boolean;
  seed: number;
}

/** `homebound local-cloud`: the local EBS + S3 servers in the foreground, until Ctrl-C. */
export function registerLocalCloud(program: Command): void {
  program
    .command('local-cloud')
    .description('Run the local cloud (EBS direct API + S3) in the foreground and print its endpoints and credentials')
    .option('--dir <dir>', 'where snapshots, volumes and staging live', '.homebound/cloud')
    .option('--bucket <name...>', 'buckets to create', ['homebound-staging'])
    .option('--latency-ms <n>', 'latency added to every EBS call', integerAtLeast(0), 0)
    .option('--quota <n>', 'GetSnapshotBlock/PutSnapshotBlock requests per second per snapshot', integerAtLeast(1))
    .option('--throttle-rate <share>', 'share of block calls answered with throttling', numberBetween(0, 1), 0)
    .option('--error-rate <share>', 'share of calls answered with a 500', numberBetween(0, 1), 0)
    .option('--corrupt-blocks <n>', 'corrupt the next N block bodies under a correct checksum', integerAtLeast(0), 0)
    .option('--short-pages', 'answer List calls with pages shorter than asked, some empty')
    .option('--seed <n>', 'seed of the fault decisions', integerAtLeast(0), 1)
    .action(async (options: LocalCloudOptions) => {
      const dir = await writableDir('--dir', options.dir);
      await mkdir(dir, { recursive: true });
      const cloud = await startLocalCloud({
        dir,
        buckets: options.bucket,
        ebs: {
          latencyMs: options.latencyMs,
          ...(options.quota ? { quotaPerSnapshot: options.quota } : {}),
          throttleRate: options.throttleRate,
          errorRate: options.errorRate,
          corruptBlocks: options.corruptBlocks,
          shortPages: options.shortPages ?? false,
        },
        seed: options.seed,
      });
      for (const [key, value] of Object.entries(cloud.env())) console.log(`${key}=${value}`);
      console.error(`local cloud running in ${dir}; buckets: ${options.bucket.join(', ')}. Ctrl-C stops it.`);
      await new Promise<void>((resolveStop) => {
        const stop = () => resolveStop();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await cloud.stop();
    });
}
