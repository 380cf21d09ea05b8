import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from '../errors.js';

/**
 * The on-prem agent's config file (JSON, `homebound.agent/v1`; reference in docs/agent.md). It holds no secret: AWS
 * credentials come from the SDK's default chain (on-prem: IAM Roles Anywhere through `credential_process`), and the
 * vCenter password is read from `passwordFile`, whose content is never logged.
 */

export const AGENT_CONFIG_FORMAT = 'homebound.agent/v1';

const TAKEOVER_VOLUME_ID = /^vol-[A-Za-z0-9]+$/;

const AbsolutePath = z.string().min(1).refine(isAbsolute, 'must be an absolute path');

/** An AWS profile (~/.aws/config) to take credentials from instead of the default chain's first match. */
const Profile = z.string().regex(/^[A-Za-z0-9_.+=,@-]+$/, 'an AWS profile name');

export const ManualPlatformConfig = z.object({
  type: z.literal('manual'),
  /** Target disk per takeover volume id: a block device or an image file. */
  disks: z
    .record(
      z.string(),
      z.object({
        path: AbsolutePath,
        /** Create a sparse image file of the volume's size when `path` does not exist. */
        create: z.boolean().default(false),
      }),
    )
    .superRefine((disks, context) => {
      // Checked here, not as the record's key schema: zod reports a bad key only as "Invalid key in record".
      const keys = Object.keys(disks);
      if (keys.length === 0) context.addIssue({ code: 'custom', message: 'name at least one disk' });
      for (const key of keys.filter((volumeId) => !TAKEOVER_VOLUME_ID.test(volumeId))) {
        context.addIssue({
          code: 'custom',
          path: [key],
          message: 'keys are takeover volume ids such as vol-0123456789abcdef0',
        });
      }
    }),
});

export const VsphereConfig = z.object({
  type: z.literal('vsphere'),
  /** vCenter's SDK URL, e.g. https://vcenter.example.com/sdk */
  url: z.url(),
  username: z.string().min(1),
  /** A file holding the password (first line); readable by the agent only. Its content is never logged. */
  passwordFile: AbsolutePath,
  /** Accept a self-signed vCenter certificate when its SHA-256 fingerprint is this (hex, colons allowed). */
  thumbprint: z.string().optional(),
  datacenter: z.string().min(1),
  /** The cluster (or standalone host) the failback VMs run on. */
  cluster: z.string().min(1),
  /** A resource pool below the cluster's root pool. @default the root pool */
  resourcePool: z.string().min(1).optional(),
  datastore: z.string().min(1),
  /** Port group of the failback VMs' NIC. */
  network: z.string().min(1),
  /** VM folder for the failback VMs. @default the datacenter's vm folder */
  folder: z.string().min(1).optional(),
  /** Where each datastore is mounted on the agent's host (NFS, or vSAN/VMFS through an appliance): name → dir. */
  datastoreMounts: z.record(z.string().min(1), AbsolutePath),
  /**
   * When a booted failback VM counts as up: `tools` once VMware Tools report running in the guest; `power` once it is
   * powered on (guests without Tools, and vcsim, which runs no guest).
   */
  until: z.enum(['tools', 'power']).default('tools'),
  /** How long a boot waits for the guest to come up before GuestNotUpError. */
  guestTimeoutSeconds: z.number().int().min(1).max(86_400).default(600),
});

export const AgentConfig = z
  .object({
    format: z.literal(AGENT_CONFIG_FORMAT),
    /** The Region of the Step Functions activity. */
    region: z.string().min(1),
    activityArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:activity:[A-Za-z0-9_-]{1,80}$/, 'a Step Functions activity ARN'),
    /** Step Functions endpoint override (the local cloud); absent: states.<region>.amazonaws.com. */
    sfnEndpoint: z.url().optional(),
    /** AWS profile for Step Functions (e.g. the Roles Anywhere one). @default the default credential chain */
    profile: Profile.optional(),
    /** The S3-compatible store the run's passes are staged in (the stack's bucket, or an on-prem store). */
    staging: z.object({
      bucket: z.string().min(1),
      endpoint: z.url().optional(),
      /** @default true when endpoint is set */
      forcePathStyle: z.boolean().optional(),
      /** @default the top-level region */
      region: z.string().min(1).optional(),
      /** AWS profile holding the store's credentials, when they differ from the Step Functions ones. */
      profile: Profile.optional(),
    }),
    /** Followed runs, applier journals and spools; must survive restarts (and hold a pass's segments). */
    stateDir: AbsolutePath,
    /** Names this agent in GetActivityTask (Step Functions shows it in the execution history). */
    workerName: z
      .string()
      .min(1)
      .max(80)
      .default(() => hostname().slice(0, 80)),
    /** How often the agent sends SendTaskHeartbeat while it works; below the states' HeartbeatSeconds. */
    heartbeatSeconds: z.number().int().min(1).max(3600).default(10),
    /** Activity tasks worked on at once (e.g. one run's verification boot while another rolls back). */
    maxConcurrentTasks: z.number().int().min(1).max(32).default(4),
    /** How often each followed volume looks for new segments. */
    pollMs: z.number().int().min(10).default(500),
    platform: z.discriminatedUnion('type', [ManualPlatformConfig, VsphereConfig]),
  })
  .superRefine((config, context) => {
    const { platform } = config;
    if (platform.type === 'manual') {
      const seen = new Map<string, string>();
      for (const [volumeId, disk] of Object.entries(platform.disks)) {
        const other = seen.get(disk.path);
        if (other !== undefined) {
          context.addIssue({
            code: 'custom',
            path: ['platform', 'disks', volumeId, 'path'],
            message: `the same disk as ${other}`,
          });
        }
        seen.set(disk.path, volumeId);
      }
    }
    if (platform.type === 'vsphere' && !Object.hasOwn(platform.datastoreMounts, platform.datastore)) {
      context.addIssue({
        code: 'custom',
        path: ['platform', 'datastoreMounts'],
        message: `say where datastore ${platform.datastore} is mounted on this host`,
      });
    }
  });
export type AgentConfig = z.infer<typeof AgentConfig>;
export type ManualPlatformConfig = z.infer<typeof ManualPlatformConfig>;
export type VsphereConfig = z.infer<typeof VsphereConfig>;

/** The config file is not JSON or a field is wrong; the message names each field and never echoes a value. */
export class AgentConfigError extends InvalidInputError {}

/**
 * Parses the agent config from its JSON text.
 * @throws AgentConfigError naming every wrong field (`platform.disks.vol-1.path: must be an absolute path`).
 */
export function parseAgentConfig(text: string): AgentConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new AgentConfigError(`agent config is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = AgentConfig.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new AgentConfigError(`agent config is invalid: ${problems.join('; ')}`);
  }
  return parsed.data;
}
