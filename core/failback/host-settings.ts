import { z } from 'zod';
import { cidrsOverlap, parseCidr, parseIpv4 } from '../compute/ipv4.js';
import { type HealthCheck, HealthChecks } from '../health/checks.js';

/**
 * The request's per-host entries and network remap (docs/failback-request.md, "Per-host settings"). A host is a bare
 * takeover host id or `{ id, wave?, failback? }`, `failback` being the method's target settings: AWS for the automated
 * method, vSphere for the conditional-automated one. What the schema cannot know (the takeover host's own values, the
 * subnets' blocks, which instance types exist) ValidateRequest checks and resolves (core/failback/resolve-hosts.ts).
 */

const ipv4 = z.string().refine((text) => parseIpv4(text) !== undefined, 'not an IPv4 address (a.b.c.d)');
const cidr = z
  .string()
  .refine((text) => parseCidr(text) !== undefined, 'not a CIDR block (a.b.c.d/n with no host bits set)');

/** Tag keys a request may not set: AWS's own (`aws:` is refused by EC2) and homebound's, which IAM conditions read. */
export function isReservedTagKey(key: string): boolean {
  return /^(aws|homebound):/i.test(key) || key === 'Name';
}

/** The failback settings of a host whose failback host is an EC2 instance (the automated method). */
export const AwsFailbackSettings = z.strictObject({
  /** @default the takeover host's instance type */
  instanceType: z.string().min(1).max(64).optional(),
  /** @default the deployment's subnet (homebound:subnetId) */
  subnetId: z
    .string()
    .regex(/^subnet-[0-9a-f]+$/, 'a subnet id such as subnet-0123abcd')
    .optional(),
  /** @default the deployment's failback security groups (homebound:securityGroupIds) */
  securityGroupIds: z
    .array(z.string().regex(/^sg-[0-9a-f]+$/, 'a security group id such as sg-0123abcd'))
    .min(1)
    .max(5)
    .optional(),
  /**
   * `keep`: the takeover host's address (after the network remap), which must be usable in the subnet; `auto`: the
   * subnet assigns one; or an address in the subnet. @default keep when the kept address is usable in the subnet, else auto
   */
  privateIp: z.union([z.literal('keep'), z.literal('auto'), ipv4]).optional(),
  /** Replaces the tags copied from the takeover host. @default the takeover host's tags but aws:*, homebound:* and Name */
  tags: z
    .record(
      z
        .string()
        .min(1)
        .max(128)
        .refine((key) => !isReservedTagKey(key), 'aws:*, homebound:* and Name are not settable here'),
      z.string().max(256),
    )
    .refine((tags) => Object.keys(tags).length <= 40, 'at most 40 tags')
    .optional(),
  /**
   * The disks that survived at home, one per takeover volume in the takeover host's device order: each becomes its
   * volume's target, and the first pass sends only the blocks that differ (docs/failback-request.md, "Seeds").
   * @default none: new empty target volumes and a full first pass
   */
  seed: z
    .strictObject({
      volumes: z
        .array(
          z.union(
            [
              z.strictObject({
                volumeId: z.string().regex(/^vol-[0-9a-f]+$/, 'an EBS volume id such as vol-0123abcd'),
              }),
              z.strictObject({
                snapshotId: z.string().regex(/^snap-[0-9a-f]+$/, 'an EBS snapshot id such as snap-0123abcd'),
              }),
            ],
            { error: 'expected { volumeId } (an EBS volume) or { snapshotId } (a snapshot to create one from)' },
          ),
        )
        .min(1),
    })
    .optional(),
});
export type AwsFailbackSettings = z.infer<typeof AwsFailbackSettings>;

/** The VM settings that describe a VM homebound makes; a seeded host's VM is its seed VM, which keeps its own. */
const MADE_VM_FIELDS = ['vmName', 'folder', 'resourcePool', 'datastore', 'portGroup', 'numCPUs', 'memoryMiB'] as const;

/**
 * A seeded failback (docs/failback-request.md, "Seeded failback"): the original production VM, by name or folder path
 * below the datacenter's VM folder (`db-1`, `prod/db-1`; a `/` inside a name written `%2f`). Its disks, in device
 * order, become the target disks (the agent copies their pre-failback state first), and it is the failback VM.
 */
export const VsphereSeed = z.strictObject({
  vm: z
    .string()
    .min(1)
    .max(255)
    .refine((path) => !path.startsWith('/') && !path.endsWith('/'), 'a name or folder path, no leading or trailing /'),
});

/**
 * The failback settings of a host whose failback host is a vSphere VM (the conditional-automated method): handed to the
 * agent's PrepareTarget (docs/agent.md says which it applies).
 */
export const VsphereFailbackSettings = z
  .strictObject({
    /** The original VM to fail back onto (seeded failback). @default none: homebound makes a VM and new disks */
    seed: VsphereSeed.optional(),
    /** @default homebound-<takeover host's Name>-<takeover host id> */
    vmName: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,80}$/, 'letters, digits, . _ - (≤ 80)')
      .optional(),
    /** @default the agent's configured VM folder */
    folder: z.string().min(1).max(255).optional(),
    /** @default the agent's configured resource pool */
    resourcePool: z.string().min(1).max(255).optional(),
    /** @default the agent's configured datastore */
    datastore: z.string().min(1).max(255).optional(),
    /** @default the agent's configured port group */
    portGroup: z.string().min(1).max(255).optional(),
    /** @default the vCPUs of the takeover host's instance type */
    numCPUs: z.number().int().min(1).max(768).optional(),
    /** @default the memory of the takeover host's instance type */
    memoryMiB: z
      .number()
      .int()
      .min(4)
      .max(24_576 * 1024)
      .optional(),
  })
  .superRefine((settings, context) => {
    if (settings.seed === undefined) return;
    for (const field of MADE_VM_FIELDS) {
      if (settings[field] !== undefined) {
        context.addIssue({
          code: 'custom',
          path: [field],
          message: `the seed VM (${settings.seed.vm}) is the failback VM and keeps its own ${field}; leave it out`,
        });
      }
    }
  });
export type VsphereFailbackSettings = z.infer<typeof VsphereFailbackSettings>;

/** A host entry once read: its id, its wave (1 when unset), its failback settings and health checks (none when unset). */
export interface HostEntry<Settings> {
  readonly id: string;
  readonly wave: number;
  readonly failback: Settings | undefined;
  readonly healthChecks: readonly HealthCheck[];
}

/**
 * The `hosts` field of a method whose targets take `settings`: 1–100 entries, each a takeover host id or
 * `{ id, wave?, failback?, healthChecks? }` (docs/health-checks.md: what the failback host must pass before its wave
 * counts as serving; `ssm` checks only where the method allows them, `allowSsm`);
 * no host twice, and waves numbered 1, 2, … without a gap (waves 1 and 3 without a 2 is refused at the first wave-3
 * host). Errors carry the entry's path, e.g. `hosts[3].wave`.
 */
export function hostList<Settings extends z.ZodType>(settings: Settings, options: { allowSsm: boolean }) {
  const entry = z.union(
    [
      z.string().min(1),
      z.strictObject({
        id: z.string().min(1),
        /** The cutover wave: hosts of wave 1 first. @default 1 */
        wave: z.number().int().min(1).max(100).optional(),
        failback: settings.optional(),
        healthChecks: HealthChecks.refine(
          (checks) => options.allowSsm || checks.every((check) => check.type !== 'ssm'),
          'ssm checks need an EC2 failback host (the automated method); use tcp or http checks here',
        ).optional(),
      }),
    ],
    { error: 'expected a takeover host id or { id, wave?, failback?, healthChecks? }' },
  );
  return z
    .array(entry)
    .min(1)
    .max(100)
    .superRefine((hosts, context) => {
      const ids = hosts.map((host) => (typeof host === 'string' ? host : host.id));
      ids.forEach((id, i) => {
        const first = ids.indexOf(id);
        if (first !== i) {
          const path = typeof hosts[i] === 'string' ? [i] : [i, 'id'];
          context.addIssue({ code: 'custom', path, message: `${id} is listed twice (also hosts[${first}])` });
        }
      });
      const waves = hosts.map((host) => (typeof host === 'string' ? 1 : (host.wave ?? 1)));
      const present = new Set(waves);
      waves.forEach((wave, i) => {
        const missing = Array.from({ length: wave - 1 }, (_, k) => k + 1).find((earlier) => !present.has(earlier));
        if (missing !== undefined) {
          context.addIssue({
            code: 'custom',
            path: [i, 'wave'],
            message: `wave ${wave} has no wave ${missing} before it (waves are numbered 1, 2, … without a gap)`,
          });
        }
      });
    });
}

/** Reads one entry of a parsed `hosts` list. */
export function hostEntry<Settings>(
  host: string | { id: string; wave?: number; failback?: Settings; healthChecks?: HealthCheck[] },
): HostEntry<Settings> {
  if (typeof host === 'string') return { id: host, wave: 1, failback: undefined, healthChecks: [] };
  return { id: host.id, wave: host.wave ?? 1, failback: host.failback, healthChecks: host.healthChecks ?? [] };
}

/** One row of the remap table: addresses in `from` become the address at the same offset in `to`. */
export const NetworkRemap = z
  .strictObject({ from: cidr, to: cidr })
  .refine((row) => parseCidr(row.from)?.prefixLength === parseCidr(row.to)?.prefixLength, {
    message: 'from and to must have the same prefix length',
    path: ['to'],
  });
export type NetworkRemap = z.infer<typeof NetworkRemap>;

/**
 * The request's `network`: the remap for sites whose address ranges differ (kept addresses only). No two `from`
 * blocks may overlap (an address would have two homes), nor two `to` blocks (two addresses would share one).
 */
export const NetworkSettings = z.strictObject({
  remap: z
    .array(NetworkRemap)
    .max(100)
    .superRefine((rows, context) => {
      for (const side of ['from', 'to'] as const) {
        rows.forEach((row, i) => {
          const block = parseCidr(row[side]);
          const earlier = rows.findIndex((other, j) => {
            const otherBlock = parseCidr(other[side]);
            return j < i && block !== undefined && otherBlock !== undefined && cidrsOverlap(block, otherBlock);
          });
          if (earlier >= 0) {
            context.addIssue({
              code: 'custom',
              path: [i, side],
              message: `${row[side]} overlaps remap[${earlier}].${side} ${rows[earlier]?.[side]}`,
            });
          }
        });
      }
    })
    .default([]),
});
export type NetworkSettings = z.infer<typeof NetworkSettings>;
