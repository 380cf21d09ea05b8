import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { assertAwsConfigured } from '../../core/adapters/aws/aws-configuration.js';
import { createS3Client } from '../../core/adapters/aws/clients.js';
import { S3Staging } from '../../core/adapters/aws/s3-staging.js';
import { BLOCK_SIZE } from '../../core/blocks.js';
import { InvalidInputError } from '../../core/errors.js';
import { parseGatewayConfig } from '../../core/gateway/config.js';
import { fetchInstanceArn } from '../../core/gateway/instance-identity.js';
import { awsNvmeDevicePath, type GatewayEvent, runGateway } from '../../core/gateway/run-gateway.js';
import { GATEWAY_VOLUMES_DIR, InstanceArn } from '../../core/gateway/scope.js';
import { awsConnectionsFromEnv } from '../aws-env.js';
import { writableDir } from '../paths.js';

interface GatewayOptions {
  config: string;
  stateDir: string;
  deviceDir?: string;
  instanceArn?: string;
}

/** `homebound gateway`: what runs on a sync gateway instance (systemd starts it from the user data). */
export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description('Run the sync gateway: apply every staged pass of the configured volumes until SIGTERM')
    .requiredOption('--config <file>', 'gateway config (JSON, homebound.gateway/v1)')
    .requiredOption('--state-dir <dir>', 'journals and spools, one directory per volume (keep it across restarts)')
    .option('--device-dir <dir>', 'volume vol-x is at <dir>/vol-x (default: the EBS NVMe path under /dev/disk/by-id)')
    .option(
      '--instance-arn <arn>',
      "this gateway's EC2 instance ARN, which names where it writes (default: asked of the instance metadata service)",
    )
    .action(async (options: GatewayOptions) => {
      await writableDir('--state-dir', options.stateDir);
      const text = await readFile(options.config, 'utf8').catch((error: unknown) => {
        throw new InvalidInputError(`cannot read --config ${options.config}: ${(error as Error).message}`);
      });
      const config = parseGatewayConfig(text);
      const aws = awsConnectionsFromEnv();
      const s3 = createS3Client(aws.s3);
      await assertAwsConfigured(s3, { purpose: `staging bucket ${config.staging.bucket}` });
      const staging = new S3Staging(s3, config.staging);
      await staging.assertReady();
      const instanceArn = await ownInstanceArn(options.instanceArn);
      // Its role lets it write below its own instance ARN only (core/gateway/scope.ts).
      const scope = `${config.recordsPrefix}${instanceArn}/`;
      const recordStaging = new S3Staging(s3, { bucket: config.staging.bucket, prefix: scope + GATEWAY_VOLUMES_DIR });
      const heartbeatStaging = config.heartbeat && new S3Staging(s3, { bucket: config.staging.bucket, prefix: scope });
      const deviceDir = options.deviceDir;
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      log(
        `run ${config.runId}: ${config.volumes.length} volume(s), staging ${staging.description}, writing under ${recordStaging.description}`,
      );
      try {
        await runGateway(config, {
          staging,
          recordStaging,
          ...(heartbeatStaging ? { heartbeatStaging } : {}),
          devicePath: deviceDir === undefined ? awsNvmeDevicePath : (volumeId) => join(deviceDir, volumeId),
          stateDir: options.stateDir,
          signal: stop.signal,
          onEvent: (event) => log(describeGatewayEvent(event)),
        });
        log('stopped');
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
    });
}

/**
 * The instance ARN given on the command line (the local cloud's gateways), else the one the instance metadata service
 * tells (EC2). @throws InvalidInputError for a malformed --instance-arn; InstanceIdentityUnavailableError
 */
async function ownInstanceArn(given: string | undefined): Promise<string> {
  if (given === undefined) return fetchInstanceArn();
  const parsed = InstanceArn.safeParse(given);
  if (!parsed.success) throw new InvalidInputError(`--instance-arn ${given}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** One log line for a gateway event (the agent logs its followed runs with it too). */
export function describeGatewayEvent(event: GatewayEvent): string {
  switch (event.type) {
    case 'waiting-for-device':
      return `${event.volumeKey}: waiting for its device at ${event.path}`;
    case 'device-ready':
      return `${event.volumeKey}: device ${event.path} ready, at pass ${event.lastAppliedPass}; following pass ${event.lastAppliedPass + 1}`;
    case 'applied': {
      const { report } = event;
      const mib = (report.blocksWritten * BLOCK_SIZE) / 2 ** 20;
      const verb = report.applied ? 'applied' : 'already had';
      return `${event.volumeKey}: ${verb} pass ${report.passNumber}: ${report.blocksWritten} blocks, ${mib.toFixed(1)} MiB, ${report.seconds.toFixed(2)} s`;
    }
    case 'hashing-seed':
      return `${event.volumeKey}: hashing its seed ${event.seed} at ${event.path}`;
    case 'seed-published':
      return `${event.volumeKey}: published the seed's ${event.blocks} block hashes as ${event.recordKey}`;
    case 'heartbeat-started':
      return `heartbeat every ${event.intervalSeconds} s at ${event.where}`;
    case 'heartbeat-failed':
      return `could not write the heartbeat (retrying at the next): ${String(event.error)}`;
    case 'apply-failed': {
      const name = event.error instanceof Error ? event.error.name : 'Error';
      const recorded = event.recordError ? `; could not record it in staging: ${String(event.recordError)}` : '';
      return `${event.volumeKey}: pass ${event.passNumber} failed with ${name}${recorded}`;
    }
  }
}

function log(line: string): void {
  console.error(`homebound gateway: ${line}`);
}
