import { z } from 'zod';
import { TakeoverTagSpec } from '../core/failback/takeover-tag.js';

/** The example image id cdk.json ships with, so `cdk synth` works on a fresh checkout; a deploy must override it. */
export const EXAMPLE_IMAGE_ID = 'ami-00000000000000000';

/** Context values arrive as strings from `-c key=value` and as JSON values from cdk.json; both are accepted. */
const count = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (value) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((part) => part.trim())
            .filter((part) => part !== '')
        : value,
    z.array(item),
  );

/**
 * One homebound deployment: one account and Region. Read from CDK context keys `homebound:<name>` (see cdk.json and
 * README "Deploy with CDK"); every key is validated here so a typo fails `cdk synth` with the key's name.
 */
export const HomeboundConfig = z.object({
  /** @default the CLI's account and Region (CDK_DEFAULT_*); unset means an environment-agnostic stack */
  account: z
    .string()
    .regex(/^\d{12}$/, 'a 12-digit AWS account id')
    .optional(),
  region: z.string().min(1).optional(),
  stackName: z.string().min(1).default('Homebound'),
  /** Staging key; when unset the stack creates one with yearly rotation. */
  stagingKmsKeyArn: z.string().startsWith('arn:').optional(),
  /** Staged passes under `runs/` older than this are deleted even if CleanUp never ran (records/ is kept). */
  stagingExpiryDays: count(14),
  /** Who approves a cutover by email: each gets a link signed for them (docs/approvals.md). */
  approvers: list(z.email()).default([]),
  /** The verified SES identity (an address) approval emails come from; required when `approvers` lists anyone. */
  approvalSender: z.email().optional(),
  /** Slack user ids who may approve with the message's buttons. */
  slackApprovers: list(z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'a Slack user id such as U012AB3CD')).default([]),
  /** The Slack channel id the approval message goes to; required when `slackApprovers` lists anyone. */
  slackChannel: z
    .string()
    .regex(/^[CGD][A-Z0-9]{2,}$/, 'a Slack channel id such as C012AB3CD')
    .optional(),
  /** Approvers are reminded this long before the approval deadline (at most half the window). */
  approvalReminderMinutes: count(15),
  /**
   * Who hears when a run ends (succeeded, failed, timed out, aborted): email subscriptions of the operators'
   * notification topic. Each address confirms by mail first. Comma-separated with `-c`, a JSON list in cdk.json.
   */
  notificationEmails: list(z.email()).default([]),
  /** The convergence threshold of runs whose request sets none (a request's own `convergence.thresholdMiB` wins). */
  convergenceThresholdMiB: count(64),
  availabilityZone: z.string().min(1),
  subnetId: z.string().regex(/^subnet-[0-9a-f]+$/, 'a subnet id such as subnet-0123abcd'),
  /**
   * The VPC of `subnetId`, where the stack creates the sync gateways' security group. Required to synthesize the stack
   * (HomeboundStack refuses without it); optional here only so config-only callers need not name it.
   */
  vpcId: z
    .string()
    .regex(/^vpc-[0-9a-f]+$/, 'a VPC id such as vpc-0123abcd')
    .optional(),
  /** The image failback hosts and sync gateways boot (Amazon Linux 2023 for the gateway's user data). */
  imageId: z.string().regex(/^ami-[0-9a-f]+$/, 'an AMI id such as ami-0123456789abcdef0'),
  instanceType: z.string().min(1),
  /** @default instanceType */
  gatewayInstanceType: z.string().min(1).optional(),
  /**
   * The instance types failback hosts may launch as (IAM's `ec2:InstanceType` condition): what a request's
   * `hosts[].failback.instanceType` may name, and a takeover host's own type is kept only when listed (else
   * `instanceType`). @default [instanceType]
   */
  failbackInstanceTypes: list(z.string().min(1)).default([]),
  /** The subnets failback hosts may launch in (a request's `hosts[].failback.subnetId`). @default [subnetId] */
  failbackSubnetIds: list(z.string().regex(/^subnet-[0-9a-f]+$/, 'a subnet id such as subnet-0123abcd')).default([]),
  /**
   * Tag keys, besides homebound's own, failback hosts may carry (copied from the takeover host or set in the request):
   * IAM refuses any other key at launch, so takeover tags outside this list are not copied. Never `aws:*`,
   * `homebound:*` or `Name`. @default none
   */
  failbackTagKeys: list(
    z
      .string()
      .min(1)
      .max(128)
      .refine((key) => !/^(aws|homebound):/i.test(key) && key !== 'Name', 'not aws:*, homebound:* or Name'),
  ).default([]),
  /**
   * The failback hosts' security groups (your workload's); the only groups IAM lets them launch with.
   * @default the sync gateways' group (no ingress, HTTPS out only), with a synth warning
   */
  securityGroupIds: list(
    z.string().regex(/^sg-([0-9a-f]{8}|[0-9a-f]{17})$/, 'a security group id (sg- and 8 or 17 hex digits)'),
  ).default([]),
  /**
   * The account's own SSM documents (names, in this account and Region) an `ssm` health check may run, besides the
   * AWS-owned AWS-RunShellScript and AWS-RunPowerShellScript: IAM lets CheckHostHealth's SendCommand name no other
   * document (docs/health-checks.md). @default none
   */
  healthCheckDocuments: list(
    z
      .string()
      .regex(/^[a-zA-Z0-9_.-]{3,128}$/, 'an SSM document name (3-128 of a-z, A-Z, 0-9, _ . -)')
      .refine((name) => !/^(aws|amazon|amzn)/i.test(name), 'not an AWS-reserved name (aws, amazon, amzn prefixes)'),
  ).default([]),
  /**
   * `key=value` of the tag every takeover host carries. The functions may stop, start, snapshot and retag only
   * instances with this tag (or the ones homebound launched), and ValidateRequest refuses a host without it
   * (MissingTakeoverTagError), so a request naming any other instance fails before anything is created.
   */
  takeoverTag: TakeoverTagSpec,
  /**
   * A PEM file (path relative to the working directory of `cdk`) holding the CA certificate(s) that issue the on-prem
   * agents' certificates. When set, the stack creates the IAM Roles Anywhere trust anchor and profile of the agent's
   * role (docs/agent.md). @default no trust anchor: the agent role is created only with `agentTrustAnchorArn`
   */
  agentCaCertificate: z.string().min(1).optional(),
  /** An existing Roles Anywhere trust anchor (e.g. of an AWS Private CA) the agent's role trusts instead. */
  agentTrustAnchorArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:rolesanywhere:[a-z0-9-]+:\d{12}:trust-anchor\/[0-9a-f-]+$/,
      'a Roles Anywhere trust anchor ARN (arn:aws:rolesanywhere:<region>:<account>:trust-anchor/<id>)',
    )
    .optional(),
  /** The common name the agent's certificate must carry (`x509Subject/CN`), e.g. `homebound-agent.dc1`. @default any */
  agentCertificateCommonName: z.string().min(1).optional(),
  /**
   * An S3-compatible store on-prem that the conditional-automated method stages its passes in (StreamPass writes,
   * CheckApplied reads the agent's records, CleanUp deletes): its `https://` URL. @default the stack's bucket
   */
  onPremStagingEndpoint: z
    .url({ protocol: /^https$/, error: 'an https:// URL (the staged blocks cross the network to it)' })
    .optional(),
  /** The on-prem store's bucket; required with `onPremStagingEndpoint`. */
  onPremStagingBucket: z.string().min(3).optional(),
  /** Path-style addressing (`https://store/bucket/key`), what most S3-compatible stores need. */
  onPremStagingForcePathStyle: z
    .preprocess((value) => (value === 'true' ? true : value === 'false' ? false : value), z.boolean())
    .default(true),
  /** The region the on-prem store signs for (many accept any). */
  onPremStagingRegion: z.string().min(1).default('us-east-1'),
  /**
   * A Secrets Manager secret holding the on-prem store's `{"accessKeyId", "secretAccessKey"}`. @default the stack
   * creates one (encrypted with its approvals key) for you to fill after deploying
   */
  onPremStagingCredentialsSecretArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'a Secrets Manager secret ARN')
    .optional(),
});
export type HomeboundConfig = z.infer<typeof HomeboundConfig>;

/** The context keys HomeboundConfig reads, without the `homebound:` prefix. */
export const CONFIG_KEYS = Object.keys(HomeboundConfig.shape) as readonly (keyof typeof HomeboundConfig.shape)[];

/** Keys that are each valid but do not fit together: a channel without what it needs to send. */
function crossKeyProblems(config: HomeboundConfig): string[] {
  const problems: string[] = [];
  if (config.approvers.length > 0 && !config.approvalSender) {
    problems.push('homebound:approvalSender: required when homebound:approvers lists anyone (the SES sender identity)');
  }
  if (config.slackApprovers.length > 0 && !config.slackChannel) {
    problems.push('homebound:slackChannel: required when homebound:slackApprovers lists anyone');
  }
  if (config.agentCaCertificate && config.agentTrustAnchorArn) {
    problems.push(
      'homebound:agentTrustAnchorArn: give either it or homebound:agentCaCertificate (a CA the stack makes an anchor of)',
    );
  }
  if (config.failbackTagKeys.includes(config.takeoverTag.key)) {
    problems.push(
      'homebound:failbackTagKeys: must not hold the takeover tag key (a failback host carrying it could be stopped and snapshotted as a takeover host)',
    );
  }
  if (config.onPremStagingEndpoint && !config.onPremStagingBucket) {
    problems.push('homebound:onPremStagingBucket: required when homebound:onPremStagingEndpoint is set');
  }
  if (!config.onPremStagingEndpoint && (config.onPremStagingBucket || config.onPremStagingCredentialsSecretArn)) {
    problems.push('homebound:onPremStagingEndpoint: required when the on-prem store has a bucket or credentials');
  }
  return problems;
}

/** The on-prem staging store a config names, all of its keys together. */
export interface OnPremStagingConfig {
  readonly endpoint: string;
  readonly bucket: string;
  readonly forcePathStyle: boolean;
  readonly region: string;
  readonly credentialsSecretArn: string | undefined;
}

/**
 * The on-prem staging store of `config`, or undefined when it names none.
 * @throws Error when the endpoint comes without its bucket (readConfig refuses such a config first)
 */
export function onPremStagingOf(config: HomeboundConfig): OnPremStagingConfig | undefined {
  if (config.onPremStagingEndpoint === undefined) return undefined;
  if (config.onPremStagingBucket === undefined) {
    throw new Error('homebound:onPremStagingBucket: required when homebound:onPremStagingEndpoint is set');
  }
  return {
    endpoint: config.onPremStagingEndpoint,
    bucket: config.onPremStagingBucket,
    forcePathStyle: config.onPremStagingForcePathStyle,
    region: config.onPremStagingRegion,
    credentialsSecretArn: config.onPremStagingCredentialsSecretArn,
  };
}

/** What failback hosts may launch as and in (IAM and ValidateRequest agree): the lists, or the single defaults. */
export function failbackLaunchScope(config: HomeboundConfig): { instanceTypes: string[]; subnetIds: string[] } {
  return {
    instanceTypes: config.failbackInstanceTypes.length > 0 ? config.failbackInstanceTypes : [config.instanceType],
    subnetIds: config.failbackSubnetIds.length > 0 ? config.failbackSubnetIds : [config.subnetId],
  };
}

/**
 * Reads `homebound:<key>` for every config key through `lookup` (e.g. `app.node.tryGetContext`).
 * @throws Error naming every missing or malformed key
 */
export function readConfig(lookup: (key: string) => unknown): HomeboundConfig {
  const raw = Object.fromEntries(CONFIG_KEYS.map((key) => [key, lookup(`homebound:${key}`)]));
  const parsed = HomeboundConfig.safeParse(raw);
  const problems = parsed.success
    ? crossKeyProblems(parsed.data)
    : parsed.error.issues.map((issue) => `homebound:${issue.path.join('.')}: ${issue.message}`);
  if (!parsed.success || problems.length > 0) {
    throw new Error(`invalid homebound configuration (CDK context): ${problems.join('; ')}`);
  }
  return parsed.data;
}
