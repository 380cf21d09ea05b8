import { type _InstanceType, EC2Client } from '@aws-sdk/client-ec2';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CancelCommandCommand, GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import { awsApprovals, awsDecisionVerifier } from '../adapters/aws/approval-deps.js';
import { createEbsClient, createS3Client } from '../adapters/aws/clients.js';
import { EbsBlockSource } from '../adapters/aws/ebs-block-source.js';
import { secretsManagerRunKeys } from '../adapters/aws/gateway-ack-secret.js';
import { OnPremStagingEnvironment, onPremStaging } from '../adapters/aws/onprem-staging.js';
import { S3Staging } from '../adapters/aws/s3-staging.js';
import { SsmRunCommand, type SsmRunCommandClient } from '../adapters/aws/ssm-run-command.js';
import { AwsCompute } from '../compute/aws-compute.js';
import { STACK_TAG } from '../compute/port.js';
import { parseEnvironment } from '../environment.js';
import { HomeboundError } from '../errors.js';
import { FailbackMetrics, stdoutSink } from '../failback/metrics.js';
import type { ApprovalPort, FailbackDeps, FailbackLaunchSettings } from '../failback/run-state.js';
import { MAX_STREAM_INVOCATIONS_PER_VOLUME, streamSplitSettings } from '../failback/stream-split.js';
import { TakeoverTagSpec } from '../failback/takeover-tag.js';
import { GatewayArtifactLocation } from '../gateway/config.js';
import { HealthCheckRunner } from '../health/runner.js';

/** The environment every failback function gets from the stack (lib/); validated once per process. */
export const FailbackEnvironment = z.object({
  HOMEBOUND_STAGING_BUCKET: z.string().min(3),
  HOMEBOUND_STAGING_KMS_KEY_ID: z.string().min(1).optional(),
  HOMEBOUND_AVAILABILITY_ZONE: z.string().min(1),
  HOMEBOUND_SUBNET_ID: z.string().min(1),
  HOMEBOUND_IMAGE_ID: z.string().min(1),
  HOMEBOUND_INSTANCE_TYPE: z.string().min(1),
  HOMEBOUND_GATEWAY_INSTANCE_TYPE: z.string().min(1).optional(),
  HOMEBOUND_GATEWAY_INSTANCE_PROFILE_ARN: z.string().min(1).optional(),
  /** Comma-separated security group ids of the failback hosts. */
  HOMEBOUND_SECURITY_GROUP_IDS: z.string().min(1).optional(),
  /** The sync gateways' security group (lib/gateway-security-group.ts), the only one IAM lets a gateway launch with. */
  HOMEBOUND_GATEWAY_SECURITY_GROUP_ID: z.string().min(1),
  /** Comma-separated: the instance types IAM lets failback hosts launch as (lib/config.ts `failbackInstanceTypes`). */
  HOMEBOUND_FAILBACK_INSTANCE_TYPES: z.string().min(1).optional(),
  /** Comma-separated: the subnets IAM lets failback hosts launch in (lib/config.ts `failbackSubnetIds`). */
  HOMEBOUND_FAILBACK_SUBNET_IDS: z.string().min(1).optional(),
  /** Comma-separated: the tag keys besides homebound's IAM lets a failback launch set; absent: none. */
  HOMEBOUND_FAILBACK_TAG_KEYS: z.string().min(1).optional(),
  HOMEBOUND_VOLUME_KMS_KEY_ID: z.string().min(1).optional(),
  /** The key of the gateway's own volumes (the stack gives the staging key: its spool holds staged blocks). */
  HOMEBOUND_GATEWAY_VOLUME_KMS_KEY_ID: z.string().min(1).optional(),
  /** `key=value`: the tag every takeover host carries (lib/config.ts `takeoverTag`). */
  HOMEBOUND_TAKEOVER_TAG: TakeoverTagSpec,
  /** The deployment's `homebound:stack` value (the stack name): on everything the functions create, which IAM checks. */
  HOMEBOUND_STACK_TAG: z.string().min(1),
  /** MiB: the convergence threshold of requests that set none (lib/config.ts `convergenceThresholdMiB`). */
  HOMEBOUND_CONVERGENCE_THRESHOLD_MIB: z.coerce.number().nonnegative().optional(),
  /** StreamPass invocations per volume at once (core/failback/stream-split.ts `invocationsPerVolume`). @default 4 */
  HOMEBOUND_STREAM_INVOCATIONS_PER_VOLUME: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_STREAM_INVOCATIONS_PER_VOLUME)
    .optional(),
  /** GetSnapshotBlock requests/s every reader of a snapshot shares (`snapshotBlockQuota`). @default 1000 */
  HOMEBOUND_SNAPSHOT_BLOCK_QUOTA: z.coerce.number().int().min(1).optional(),
  /** The sync gateway bundle (lib/gateway-artifact.ts): s3:// URI and hex SHA-256. */
  HOMEBOUND_GATEWAY_ARTIFACT_URI: GatewayArtifactLocation.shape.uri,
  HOMEBOUND_GATEWAY_ARTIFACT_SHA256: GatewayArtifactLocation.shape.sha256,
  /** Days after which the staging bucket's lifecycle rule expires `runs/` (lib/config.ts `stagingExpiryDays`). */
  HOMEBOUND_STAGING_EXPIRY_DAYS: z.coerce.number().int().positive().optional(),
  /**
   * `arn:<partition>:ec2:<region>:<account>:instance/` of the stack: with the gateway's host id, the prefix its records
   * live under (core/gateway/scope.ts).
   */
  HOMEBOUND_INSTANCE_ARN_PREFIX: z.string().regex(/^arn:aws[a-z-]*:ec2:[a-z0-9-]+:\d{12}:instance\/$/),
  /** The stack's gateway-ack secret: set (and readable) only for PrepareTarget, PlanOnPremRun and CheckApplied. */
  HOMEBOUND_GATEWAY_ACK_SECRET_ARN: z.string().min(1).optional(),
  /**
   * An on-prem S3-compatible store: set only on the conditional-automated method's own StreamPass, CheckApplied and
   * CleanUp functions (lib/onprem-staging-store.ts), whose `staging` it then is.
   */
  ...OnPremStagingEnvironment.shape,
});
export type FailbackEnvironment = z.infer<typeof FailbackEnvironment>;

const commaList = (value: string | undefined) =>
  value
    ?.split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');

/**
 * The deployment's failback launch settings as ValidateRequest resolves hosts with them: the configured type, subnet
 * and groups as defaults, and the sets the stack's IAM allows (absent variables: only the defaults).
 */
export function failbackLaunchSettings(config: FailbackEnvironment): FailbackLaunchSettings {
  return {
    instanceType: config.HOMEBOUND_INSTANCE_TYPE,
    subnetId: config.HOMEBOUND_SUBNET_ID,
    securityGroupIds: commaList(config.HOMEBOUND_SECURITY_GROUP_IDS),
    allowedInstanceTypes: commaList(config.HOMEBOUND_FAILBACK_INSTANCE_TYPES) ?? [config.HOMEBOUND_INSTANCE_TYPE],
    allowedSubnetIds: commaList(config.HOMEBOUND_FAILBACK_SUBNET_IDS) ?? [config.HOMEBOUND_SUBNET_ID],
    allowedTagKeys: commaList(config.HOMEBOUND_FAILBACK_TAG_KEYS) ?? [],
  };
}

/** The function has no approval channel in its environment; a run stops at approval (and rolls back) with this. */
export class ApprovalChannelNotConfiguredError extends HomeboundError {}

const notConfigured = () =>
  new ApprovalChannelNotConfiguredError('this function has no approval channel (HOMEBOUND_APPROVALS_TABLE)');
const noApprovalChannel: ApprovalPort = {
  async requestApproval() {
    throw notConfigured();
  },
  async verifyDecision() {
    throw notConfigured();
  },
};

/**
 * The approval channel, built on first use: RequestApproval's (DynamoDB, SES, Slack, the link key) or VerifyDecision's
 * (the two tables, read-only). Only those two functions have the environment, each only its own part.
 */
const awsApprovalChannel = (env: NodeJS.ProcessEnv): ApprovalPort => ({
  async requestApproval(request) {
    const { service } = await awsApprovals(undefined, env);
    await service.requestApproval(request);
  },
  async verifyDecision(runId) {
    return awsDecisionVerifier(env).verify(runId);
  },
});

/**
 * The three Run Command calls over one SSMClient, created on the first call: only CheckHostHealth sends commands,
 * so no other function builds an SSM client. SSMClient with single commands rather than the aggregated `SSM` client
 * keeps the other SSM operations out of the bundle.
 */
function lazySsmRunCommandClient(): SsmRunCommandClient {
  let client: SSMClient | undefined;
  const ssm = () => {
    client ??= new SSMClient({});
    return client;
  };
  return {
    sendCommand: (input) => ssm().send(new SendCommandCommand(input)),
    getCommandInvocation: (input) => ssm().send(new GetCommandInvocationCommand(input)),
    cancelCommand: (input) => ssm().send(new CancelCommandCommand(input)),
  };
}

/**
 * The failback steps' dependencies on AWS, built from `env`: one SDK client per service. Every call builds anew —
 * a Lambda module keeps its own through `awsFailbackDepsOnce`, so nothing process-wide outlives the arguments it was
 * built from.
 * @throws InvalidInputError naming the first missing or malformed environment variable
 */
export function awsFailbackDeps(env: NodeJS.ProcessEnv = process.env): FailbackDeps {
  const config = parseEnvironment(FailbackEnvironment, env);
  const s3 = createS3Client();
  const secrets = new SecretsManagerClient({});
  const compute = new AwsCompute(new EC2Client({}), {
    availabilityZone: config.HOMEBOUND_AVAILABILITY_ZONE,
    launch: {
      imageId: config.HOMEBOUND_IMAGE_ID,
      instanceType: config.HOMEBOUND_INSTANCE_TYPE as _InstanceType,
      subnetId: config.HOMEBOUND_SUBNET_ID,
      ...(config.HOMEBOUND_SECURITY_GROUP_IDS
        ? { securityGroupIds: config.HOMEBOUND_SECURITY_GROUP_IDS.split(',') }
        : {}),
    },
    launchByRole: {
      gateway: {
        securityGroupIds: [config.HOMEBOUND_GATEWAY_SECURITY_GROUP_ID],
        ...(config.HOMEBOUND_GATEWAY_VOLUME_KMS_KEY_ID
          ? { volumeKmsKeyId: config.HOMEBOUND_GATEWAY_VOLUME_KMS_KEY_ID }
          : {}),
        ...(config.HOMEBOUND_GATEWAY_INSTANCE_TYPE
          ? { instanceType: config.HOMEBOUND_GATEWAY_INSTANCE_TYPE as _InstanceType }
          : {}),
        ...(config.HOMEBOUND_GATEWAY_INSTANCE_PROFILE_ARN
          ? { iamInstanceProfileArn: config.HOMEBOUND_GATEWAY_INSTANCE_PROFILE_ARN }
          : {}),
      },
    },
    ...(config.HOMEBOUND_VOLUME_KMS_KEY_ID ? { kmsKeyId: config.HOMEBOUND_VOLUME_KMS_KEY_ID } : {}),
    resourceTags: { [STACK_TAG]: config.HOMEBOUND_STACK_TAG },
    instanceArnPrefix: config.HOMEBOUND_INSTANCE_ARN_PREFIX,
  });
  // The deployment's configuration chooses the staging, as core/wiring/local-onprem.ts does locally: a function given
  // an on-prem store stages there, every other one in the stack's bucket.
  const onPremStore = onPremStaging(config, secrets);
  const stackStaging = (prefix: string) =>
    new S3Staging(s3, {
      bucket: config.HOMEBOUND_STAGING_BUCKET,
      prefix,
      kmsKeyId: config.HOMEBOUND_STAGING_KMS_KEY_ID,
    });
  return {
    compute,
    blockSource: new EbsBlockSource(createEbsClient()),
    staging: onPremStore?.staging ?? stackStaging,
    // Run records (kept records included) stay in the stack's bucket when the passes go to the on-prem store.
    ...(onPremStore ? { recordStaging: stackStaging } : {}),
    stagingBucket: onPremStore?.bucket ?? config.HOMEBOUND_STAGING_BUCKET,
    takeoverTag: config.HOMEBOUND_TAKEOVER_TAG,
    failbackLaunch: failbackLaunchSettings(config),
    defaultConvergenceThresholdMiB: config.HOMEBOUND_CONVERGENCE_THRESHOLD_MIB,
    stagingExpiryDays: config.HOMEBOUND_STAGING_EXPIRY_DAYS,
    streamSplit: streamSplitSettings({
      ...(config.HOMEBOUND_STREAM_INVOCATIONS_PER_VOLUME === undefined
        ? {}
        : { invocationsPerVolume: config.HOMEBOUND_STREAM_INVOCATIONS_PER_VOLUME }),
      ...(config.HOMEBOUND_SNAPSHOT_BLOCK_QUOTA === undefined
        ? {}
        : { snapshotBlockQuota: config.HOMEBOUND_SNAPSHOT_BLOCK_QUOTA }),
    }),
    gatewayArtifact: { uri: config.HOMEBOUND_GATEWAY_ARTIFACT_URI, sha256: config.HOMEBOUND_GATEWAY_ARTIFACT_SHA256 },
    gatewayRunKey: config.HOMEBOUND_GATEWAY_ACK_SECRET_ARN
      ? secretsManagerRunKeys(secrets, config.HOMEBOUND_GATEWAY_ACK_SECRET_ARN)
      : undefined,
    approvals: env.HOMEBOUND_APPROVALS_TABLE ? awsApprovalChannel(env) : noApprovalChannel,
    // TCP and HTTP probes from the function (CheckHostHealth runs in the VPC), `ssm` checks through Run Command.
    health: new HealthCheckRunner({ runCommand: new SsmRunCommand(lazySsmRunCommandClient()) }),
    // EMF lines on stdout: CloudWatch Logs turns them into metrics.
    metrics: new FailbackMetrics(stdoutSink),
    now: () => new Date(),
  };
}

/**
 * What a handler module passes to createTaskHandler: builds the deps on its first invocation (a malformed
 * environment then fails that invocation with the variable's name, not the module load) and hands the same ones
 * — the same SDK clients — to every later invocation of that module.
 */
export function awsFailbackDepsOnce(env: NodeJS.ProcessEnv = process.env): () => FailbackDeps {
  let built: FailbackDeps | undefined;
  return () => {
    built ??= awsFailbackDeps(env);
    return built;
  };
}
