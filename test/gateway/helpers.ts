import type { Readable } from 'node:stream';
import { ACK_KEY, passPrefix } from '../../core/engine/layout.js';
import { PassAck, parseStagedJson } from '../../core/engine/manifest.js';
import { runPass } from '../../core/engine/pass.js';
import { GATEWAY_CONFIG_FORMAT, type GatewayConfig } from '../../core/gateway/config.js';
import { GATEWAY_VOLUMES_DIR } from '../../core/gateway/scope.js';
import { snapshotVolume } from '../../core/localcloud/local-volume.js';
import type { SnapshotStore } from '../../core/localcloud/snapshot-store.js';
import type { BlockSource, Staging } from '../../core/ports.js';
import { STAGING_BUCKET } from '../support/local-cloud.js';

/** The instance ARN test gateways run as (`--instance-arn`): they write below it. */
export const TEST_INSTANCE_ARN = 'arn:aws:ec2:us-east-1:000000000000:instance/i-0123456789abcdef0';

/** Staging where the gateway `instanceArn` writes its acks and apply errors for `config` (core/gateway/scope.ts). */
export function gatewayRecords(
  stagingAt: (bucket: string, prefix: string) => Staging,
  config: GatewayConfig,
  instanceArn = TEST_INSTANCE_ARN,
): Staging {
  return stagingAt(config.staging.bucket, `${config.recordsPrefix}${instanceArn}/${GATEWAY_VOLUMES_DIR}`);
}

/** A gateway config for the test staging bucket. */
export function gatewayConfig(prefix: string, volumes: GatewayConfig['volumes'], pollMs = 50): GatewayConfig {
  return {
    format: GATEWAY_CONFIG_FORMAT,
    runId: 'test-run',
    staging: { bucket: STAGING_BUCKET, prefix },
    recordsPrefix: `${prefix}gateways/`,
    volumes,
    pollMs,
  };
}

/** Snapshots a local volume image (incremental when `base` is given) and streams the pass into staging. */
export async function stagePass(
  env: { store: SnapshotStore; source: BlockSource; staging: Staging },
  image: string,
  pass: { volumeKey: string; passNumber: number; sizeBytes: number; base?: string; volumeId?: string },
): Promise<string> {
  const snapshot = await snapshotVolume(env.store, image, {
    ...(pass.base ? { parentSnapshotId: pass.base } : {}),
    ...(pass.volumeId ? { volumeId: pass.volumeId } : {}),
  });
  await runPass(
    {
      volumeKey: pass.volumeKey,
      passNumber: pass.passNumber,
      kind: pass.base ? 'incremental' : 'full',
      snapshotId: snapshot.snapshotId,
      baseSnapshotId: pass.base,
      volumeSizeBytes: pass.sizeBytes,
      segmentBlocks: 4,
      shardBlocks: 8,
    },
    { source: env.source, staging: env.staging },
  );
  return snapshot.snapshotId;
}

/** Waits for the applier's ack of a pass to appear in staging (the gateway's records) and returns it. */
export async function waitForAck(
  staging: Staging,
  volumeKey: string,
  passNumber: number,
  timeoutMs = 30_000,
): Promise<PassAck> {
  const key = passPrefix(volumeKey, passNumber) + ACK_KEY;
  const deadline = Date.now() + timeoutMs;
  while (!(await staging.head(key))) {
    if (Date.now() > deadline) throw new Error(`no ${key} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return parseStagedJson(PassAck, await staging.get(key), key);
}

/** Everything a stream prints from now on, and a way to wait for a line that matches (printed before or after). */
export function collectOutput(stream: Readable): {
  readonly text: string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
} {
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk;
  });
  return {
    get text() {
      return text;
    },
    async waitFor(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(text)) {
        if (Date.now() > deadline)
          throw new Error(`no output matching ${pattern} within ${timeoutMs} ms; saw:\n${text}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return text;
    },
  };
}
