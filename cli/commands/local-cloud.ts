import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { startLocalCloud } from '../../core/localcloud/index.js';
import { addEbsFaultOptions, ebsFaultsFrom, integerAtLeast } from '../options.js';

interface LocalCloudOptions {
  dir: string;
  bucket: string[];
  seed: number;
}

/** `homebound local-cloud`: the local EBS + S3 servers in the foreground, until Ctrl-C. */
export function registerLocalCloud(program: Command): void {
  const command = program
    .command('local-cloud')
    .description('Run the local cloud (EBS direct API + S3) in the foreground and print its endpoints and credentials')
    .option('--dir <dir>', 'where snapshots, volumes and staging live', '.homebound/cloud')
    .option('--bucket <name...>', 'buckets to create', ['homebound-staging']);
  addEbsFaultOptions(command, '')
    .option('--seed <n>', 'seed of the fault decisions', integerAtLeast(0), 1)
    .action(async (options: LocalCloudOptions) => {
      const dir = resolve(options.dir);
      await mkdir(dir, { recursive: true });
      const cloud = await startLocalCloud({
        dir,
        buckets: options.bucket,
        ebs: ebsFaultsFrom(options, ''),
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
