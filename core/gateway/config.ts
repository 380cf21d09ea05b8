import { z } from 'zod';
import { isValidVolumeKey } from '../engine/layout.js';
import { InvalidInputError } from '../errors.js';

/**
 * What a sync gateway instance needs to know, and how it reaches the instance: as EC2 user data, a cloud-init bash
 * script that writes the config to /etc/homebound/gateway.json, installs the gateway bundle and runs
 * `homebound gateway` as a systemd service.
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
          /**
           * The snapshot this target volume holds from a rolled-back run (PrepareTarget proved it with that run's
           * signed record): the applier's new journal starts there, so the first pass may be incremental from it.
           */
          holdsSnapshotId: z.string().min(1).optional(),
          /**
           * The target is a seed (a disk that survived at home, core/engine/seed.ts): before its first pass the gateway
           * hashes it and publishes the hashes under its own scope, and the applier's new journal starts at the seed.
           * `id` names what was seeded from (the seed volume or snapshot id).
           */
          seed: z.object({ id: z.string().min(1) }).optional(),
        }),
      )
      .min(1),
    /** How often each volume's applier looks for new segments. */
    pollMs: z.number().int().min(10).default(500),
    /**
     * The run's gateway key (hex, core/engine/run-key.ts): the gateway MACs its acks, apply errors and heartbeats with
     * it. Absent: it writes them unsigned, and a control plane that verifies refuses them.
     */
    ackKey: z
      .string()
      .regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits')
      .optional(),
    /**
     * Key prefix in the same bucket under which the gateway writes its acks, apply errors and heartbeat, each below
     * its own instance ARN: `runs/<runId>/gateways/` → `runs/<runId>/gateways/<instance ARN>/…` (core/gateway/scope.ts),
     * the only place its IAM role lets it write.
     */
    recordsPrefix: z.string().regex(/^[A-Za-z0-9_./-]+\/$/, 'a key prefix ending in /'),
    /** How often the gateway writes its heartbeat (core/gateway/heartbeat.ts); absent: it writes none. */
    heartbeat: z.object({ intervalSeconds: z.number().int().min(1) }).optional(),
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

/** The sync gateway bundle a deployment built (lib/gateway-artifact.ts): one file, no node_modules. */
export const GatewayArtifactLocation = z.object({
  /** `s3://<bucket>/<key>` of plain path characters (it goes into a shell command). */
  uri: z.string().regex(/^s3:\/\/[a-z0-9.-]+\/[A-Za-z0-9._/-]+$/, 'an s3:// URI of plain path characters'),
  /** Hex SHA-256 of the file; the user data refuses to run anything else. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits'),
});
export type GatewayArtifactLocation = z.infer<typeof GatewayArtifactLocation>;

/** Where the gateway bundle lives on the instance. */
export const GATEWAY_ARTIFACT_PATH = '/opt/homebound/homebound-gateway.mjs';

export interface GatewayUserDataOptions {
  /**
   * The bundle to download and verify. Without it the AMI must already hold it at GATEWAY_ARTIFACT_PATH (the user
   * data fails otherwise, naming the path).
   */
  readonly artifact?: GatewayArtifactLocation | undefined;
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
 * Node 22 (dnf) unless the AMI has it, downloads the gateway bundle with the AMI's AWS CLI and checks its SHA-256
 * (unless no artifact is given and the AMI has the bundle), and runs `homebound gateway` as a systemd service
 * restarted on failure.
 * @throws InvalidInputError when the config or the artifact location is invalid (the gateway would refuse it at boot).
 */
export function renderGatewayUserData(config: GatewayConfig, options: GatewayUserDataOptions = {}): string {
  const checked = parseGatewayConfig(JSON.stringify(config));
  const artifact = options.artifact && GatewayArtifactLocation.safeParse(options.artifact);
  if (artifact && !artifact.success) {
    const issue = artifact.error.issues[0];
    throw new InvalidInputError(`gateway artifact ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const install = artifact
    ? `# homebound: the gateway bundle this deployment built (one file, no node_modules), run only if its SHA-256 matches.
aws s3 cp --region "$REGION" '${artifact.data.uri}' ${GATEWAY_ARTIFACT_PATH}.download
echo '${artifact.data.sha256}  ${GATEWAY_ARTIFACT_PATH}.download' | sha256sum --check --strict --quiet -
mv ${GATEWAY_ARTIFACT_PATH}.download ${GATEWAY_ARTIFACT_PATH}`
    : `# homebound: no artifact given, so the AMI must hold the gateway bundle.
if [ ! -f ${GATEWAY_ARTIFACT_PATH} ]; then
  echo "homebound: ${GATEWAY_ARTIFACT_PATH} is missing and no artifact was given" >&2
  exit 1
fi`;
  return `#!/bin/bash
# homebound sync gateway (cloud-init user data; assumes Amazon Linux 2023). The run is named in the config only,
# so nothing from it is ever interpreted by the shell.
set -euo pipefail
mkdir -p /etc/homebound ${GATEWAY_STATE_DIR} /opt/homebound
# The config holds the run's gateway key: readable by root only.
umask 077
${CONFIG_BEGIN_MARKER}
${JSON.stringify(checked, null, 2)}
${CONFIG_END_MARKER}
umask 022

# Node 22: baked into the AMI, else from the distribution.
NODE=$(command -v node-22 || command -v node || true)
if [ -z "$NODE" ] || ! "$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)'; then
  dnf install -y nodejs22
  NODE=$(command -v node-22 || command -v node)
fi
# Neither the SDK nor the CLI reads the Region from instance metadata on its own; IMDSv2 tells it.
IMDS_TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')
REGION=$(curl -sf -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" http://169.254.169.254/latest/meta-data/placement/region)
${install}

cat > /etc/systemd/system/homebound-gateway.service <<UNIT
[Unit]
Description=homebound sync gateway
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=120
StartLimitBurst=5

[Service]
Environment=AWS_REGION=$REGION
ExecStart=$NODE ${GATEWAY_ARTIFACT_PATH} gateway --config ${GATEWAY_CONFIG_PATH} --state-dir ${GATEWAY_STATE_DIR}
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
