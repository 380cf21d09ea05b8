import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { AwsConnection } from '../../core/adapters/aws/clients.js';

const CLI = join(import.meta.dirname, '../../bin/homebound.mjs');

export interface LocalCloudProcess {
  readonly ebs: AwsConnection;
  readonly s3: AwsConnection;
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * Runs `homebound local-cloud` as its own process, as the real services are remote: the bench then measures the
 * engine's process alone (its CPU and its peak RSS) instead of sharing one event loop with the servers.
 */
export async function startLocalCloudProcess(dir: string, args: readonly string[]): Promise<LocalCloudProcess> {
  const child = spawn(process.execPath, [CLI, 'local-cloud', '--dir', dir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const env = await readEnv(child);
  const credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID ?? '', secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '' };
  return {
    env,
    ebs: { endpoint: env.AWS_ENDPOINT_URL_EBS, region: env.AWS_REGION, credentials },
    s3: { endpoint: env.AWS_ENDPOINT_URL_S3, region: env.AWS_REGION, credentials },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function readEnv(child: ChildProcess): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    let stdout = '';
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    child.once('exit', (code) =>
      reject(new Error(`local cloud exited (${code}) before it was ready: ${stderr.trim()}`)),
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk;
      for (const line of stdout.split('\n')) {
        const match = /^(AWS_[A-Z0-9_]+)=(.+)$/.exec(line);
        if (match?.[1] && match[2]) env[match[1]] = match[2];
      }
      if (env.AWS_ENDPOINT_URL_EBS && env.AWS_ENDPOINT_URL_S3 && env.AWS_REGION && env.AWS_SECRET_ACCESS_KEY)
        resolve(env);
    });
  });
}
