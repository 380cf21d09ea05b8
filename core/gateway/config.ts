import { z } from 'zod';
import { isValidVolumeKey } from '../engine/layout.js';
import { InvalidInputError } from '../errors.js';

/**
 * What a sync gateway instance needs to know, and how it reaches the instance: as EC2 user data, a cloud-init bash
 * script that writes the config to /etc/homebound/gateway.json and runs `homebound gateway` as a systemd service.
 * The JSON sits in a quoted heredoc (no shell expansion) whose opening and closing lines are the markers
 * `parseGatewayUserData` looks for, so the local compute adapter reads back exactly what EC2 would run.
 */

export const GATEWAY_CONFIG_FORMAT = 'homebound.gateway/v1';
export const GATEWAY_CONFIG_PATH = '/etc/homebound/gateway.json';
export const GATEWAY_STATE_DIR = '/var/lib/homebound';

const CONFIG_END_MARKER = 'HOMEBOUND_GATEWAY_CONFIG_END';
const CONFIG_BEGIN_MARKER = `cat > ${GATEWAY_CONFIG_PATH} <<'${CONFIG_END_MARKER}'`;

export const GatewayConfig = z
  .object({
    format: z.literal(GATEWAY_CONFIG_FORMAT),
    runId: z.string().min(1),
    /** S3Staging bucket + prefix, e.g. `runs/<runId>/`. */
    staging: z.object({ bucket: z.string().min(1), prefix: z.string() }),
    volumes: z
      .array(
        z.object({
          volumeKey: z.string().refine(isValidVolumeKey, 'not a valid volume key (letters, digits, . _ -)'),
          // Becomes a file name (local device dir) and part of the NVMe by-id name, so no path characters.
          volumeId: z.string().regex(/^vol-[A-Za-z0-9]+$/, 'expected an EBS volume id such as vol-0123456789abcdef0'),
          sizeBytes: z.number().int().positive(),
        }),
      )
      .min(1),
    /** How often each volume's applier looks for new segments. */
    pollMs: z.number().int().min(10).default(500),
  })
  .superRefine((config, context) => {
    for (const field of ['volumeKey', 'volumeId'] as const) {
      const seen = new Set<string>();
      config.volumes.forEach((volume, index) => {
        if (seen.has(volume[field])) {
          context.addIssue({ code: 'custom', path: ['volumes', index, field], message: `duplicate ${volume[field]}` });
        }
        seen.add(volume[field]);
      });
    }
  });
export type GatewayConfig = z.infer<typeof GatewayConfig>;

export interface GatewayUserDataOptions {
  /**
   * Tarball of homebound, one top-level directory holding the sources and their node_modules (`npm ci` done; tsx
   * runs the sources), fetched when the AMI has no /opt/homebound.
   * @default `s3://<staging bucket>/artifacts/homebound.tgz`
   */
  readonly artifactUri?: string;
}

/**
 * Parses a gateway config from its JSON text (the file /etc/homebound/gateway.json).
 * @throws InvalidInputError naming the field that is wrong, or saying the text is not JSON.
 */
export function parseGatewayConfig(text: string): GatewayConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`gateway config is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = GatewayConfig.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new InvalidInputError(`gateway config is invalid: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/**
 * The user data of a sync gateway: a cloud-init bash script for Amazon Linux 2023 that writes the config, installs
 * Node 22 (dnf) and homebound (from `artifactUri`, with the AMI's AWS CLI) unless the AMI already has them, and runs
 * `homebound gateway` as a systemd service restarted on failure.
 * @throws InvalidInputError when the config is invalid (the gateway would refuse it at boot).
 */
export function renderGatewayUserData(config: GatewayConfig, options: GatewayUserDataOptions = {}): string {
  const checked = parseGatewayConfig(JSON.stringify(config));
  const artifact = options.artifactUri ?? `s3://${checked.staging.bucket}/artifacts/homebound.tgz`;
  if (!/^s3:\/\/[a-z0-9.-]+\/[A-Za-z0-9._/-]+$/.test(artifact)) {
    throw new InvalidInputError(`artifactUri "${artifact}" is not an s3:// URI of plain path characters`);
  }
  return `#!/bin/bash
# homebound sync gateway (cloud-init user data; assumes Amazon Linux 2023). The run is named in the config only,
# so nothing from it is ever interpreted by the shell.
set -euo pipefail
mkdir -p /etc/homebound ${GATEWAY_STATE_DIR}
${CONFIG_BEGIN_MARKER}
${JSON.stringify(checked, null, 2)}
${CONFIG_END_MARKER}

# Node 22: baked into the AMI, else from the distribution.
NODE=$(command -v node-22 || command -v node || true)
if [ -z "$NODE" ] || ! "$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)'; then
  dnf install -y nodejs22
  NODE=$(command -v node-22 || command -v node)
fi
# homebound: baked into the AMI at /opt/homebound, else the release tarball the deployment uploaded.
if [ ! -f /opt/homebound/bin/homebound.mjs ]; then
  aws s3 cp '${artifact}' /tmp/homebound.tgz
  mkdir -p /opt/homebound
  tar -xzf /tmp/homebound.tgz -C /opt/homebound --strip-components=1
fi
# The SDK does not read the Region from instance metadata; IMDSv2 tells it.
IMDS_TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')
REGION=$(curl -sf -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" http://169.254.169.254/latest/meta-data/placement/region)

cat > /etc/systemd/system/homebound-gateway.service <<UNIT
[Unit]
Description=homebound sync gateway
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=120
StartLimitBurst=5

[Service]
Environment=AWS_REGION=$REGION
ExecStart=$NODE /opt/homebound/bin/homebound.mjs gateway --config ${GATEWAY_CONFIG_PATH} --state-dir ${GATEWAY_STATE_DIR}
Restart=on-failure
RestartSec=1
# SIGTERM lets the applier finish its current write; the journal makes a SIGKILL safe too.
TimeoutStopSec=60

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now homebound-gateway.service
`;
}

/** Whether the user data carries a gateway config block (it may still be invalid). */
export function hasGatewayConfig(userData: string): boolean {
  return userData.split('\n').some((line) => line.trim() === CONFIG_BEGIN_MARKER);
}

/**
 * Extracts the gateway config from user data made by `renderGatewayUserData`.
 * @throws InvalidInputError when the marker lines are missing, the JSON between them is malformed, or a field is
 * wrong (the message names it).
 */
export function parseGatewayUserData(userData: string): GatewayConfig {
  const lines = userData.split('\n').map((line) => line.replace(/\r$/, ''));
  const begin = lines.findIndex((line) => line.trim() === CONFIG_BEGIN_MARKER);
  if (begin < 0) {
    throw new InvalidInputError(`user data has no gateway config block (no line "${CONFIG_BEGIN_MARKER}")`);
  }
  const end = lines.findIndex((line, index) => index > begin && line === CONFIG_END_MARKER);
  if (end < 0) {
    throw new InvalidInputError(`user data gateway config block is not closed (no line "${CONFIG_END_MARKER}")`);
  }
  return parseGatewayConfig(lines.slice(begin + 1, end).join('\n'));
}
