import { Aws } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { z } from 'zod';
import { formatTakeoverTag } from '../core/failback/takeover-tag.js';
import type { FailbackTaskName } from '../core/failback/tasks.js';
import type { FailbackEnvironment } from '../core/wiring/aws.js';
import { AppFunction, type AppFunctionNetwork } from './app-function.js';
import { failbackLaunchScope, type HomeboundConfig } from './config.js';
import { FailbackPermissions } from './failback-permissions.js';
import { type FailbackTaskSettings, failbackTaskSettings } from './failback-task-settings.js';
import type { GatewayArtifact } from './gateway-artifact.js';
import { allowWildcards } from './nag.js';
import type { Staging } from './staging.js';

export interface FailbackFunctionsProps {
  readonly config: HomeboundConfig;
  readonly staging: Staging;
  readonly gatewayRole: iam.IRole;
  readonly gatewayInstanceProfileArn: string;
  /** The sync gateways' security group; failback hosts get it too when `config.securityGroupIds` is empty. */
  readonly gatewaySecurityGroupId: string;
  readonly gatewayArtifact: GatewayArtifact;
  /**
   * Where the functions whose settings say `inVpc` run: the VPC of the configured subnet (they run in that subnet)
   * and their egress-only group (lib/health-check-security-group.ts).
   */
  readonly network: { readonly vpc: ec2.IVpc; readonly securityGroup: ec2.ISecurityGroup };
}

/**
 * One function per failback Task (the keys of `failbackTaskSettings`, which tsc holds equal to the task table), each
 * with the environment `awsFailbackDeps` parses and only the access its row lists.
 */
export class FailbackFunctions extends Construct {
  readonly byTask: Readonly<Record<FailbackTaskName, AppFunction>>;
  private readonly permissions: FailbackPermissions;
  private readonly environment: Record<string, string>;
  /** Where `inVpc` functions run: the configured subnet, with the health-check group. */
  private readonly network: { readonly subnet: ec2.ISubnet; readonly securityGroup: ec2.ISecurityGroup };
  private readonly functionNetwork: AppFunctionNetwork;

  constructor(scope: Construct, id: string, props: FailbackFunctionsProps) {
    super(scope, id);
    const { config, staging } = props;
    const failbackSecurityGroupIds =
      config.securityGroupIds.length > 0 ? config.securityGroupIds : [props.gatewaySecurityGroupId];
    const permissions = new FailbackPermissions(this, {
      config,
      staging,
      gatewayRole: props.gatewayRole,
      gatewaySecurityGroupId: props.gatewaySecurityGroupId,
      failbackSecurityGroupIds,
    });
    // Typed from the schema the functions parse: a variable the schema requires and the stack forgets fails tsc.
    const environment = {
      HOMEBOUND_STAGING_BUCKET: staging.bucket.bucketName,
      HOMEBOUND_STAGING_KMS_KEY_ID: staging.key.keyArn,
      // The gateway spools decrypted staged blocks on its root volume: the same data, so the same key.
      HOMEBOUND_GATEWAY_VOLUME_KMS_KEY_ID: staging.key.keyArn,
      HOMEBOUND_AVAILABILITY_ZONE: config.availabilityZone,
      HOMEBOUND_SUBNET_ID: config.subnetId,
      HOMEBOUND_IMAGE_ID: config.imageId,
      HOMEBOUND_INSTANCE_TYPE: config.instanceType,
      HOMEBOUND_GATEWAY_INSTANCE_TYPE: config.gatewayInstanceType ?? config.instanceType,
      HOMEBOUND_GATEWAY_INSTANCE_PROFILE_ARN: props.gatewayInstanceProfileArn,
      HOMEBOUND_TAKEOVER_TAG: formatTakeoverTag(config.takeoverTag),
      HOMEBOUND_STACK_TAG: permissions.stackTagValue,
      HOMEBOUND_CONVERGENCE_THRESHOLD_MIB: String(config.convergenceThresholdMiB),
      HOMEBOUND_STAGING_EXPIRY_DAYS: String(config.stagingExpiryDays),
      HOMEBOUND_GATEWAY_ARTIFACT_URI: props.gatewayArtifact.uri,
      HOMEBOUND_GATEWAY_ARTIFACT_SHA256: props.gatewayArtifact.sha256,
      HOMEBOUND_GATEWAY_SECURITY_GROUP_ID: props.gatewaySecurityGroupId,
      HOMEBOUND_SECURITY_GROUP_IDS: failbackSecurityGroupIds.join(','),
      HOMEBOUND_FAILBACK_INSTANCE_TYPES: failbackLaunchScope(config).instanceTypes.join(','),
      HOMEBOUND_FAILBACK_SUBNET_IDS: failbackLaunchScope(config).subnetIds.join(','),
      HOMEBOUND_INSTANCE_ARN_PREFIX: `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/`,
      // Unset when empty: no tag keys besides homebound's (core/wiring/aws.ts reads an absent list as none).
      ...(config.failbackTagKeys.length > 0 ? { HOMEBOUND_FAILBACK_TAG_KEYS: config.failbackTagKeys.join(',') } : {}),
    } satisfies z.input<typeof FailbackEnvironment>;

    this.permissions = permissions;
    this.environment = environment;
    this.network = {
      subnet: ec2.Subnet.fromSubnetAttributes(this, 'Subnet', {
        subnetId: config.subnetId,
        availabilityZone: config.availabilityZone,
      }),
      securityGroup: props.network.securityGroup,
    };
    this.functionNetwork = {
      vpc: props.network.vpc,
      subnets: [this.network.subnet],
      securityGroups: [this.network.securityGroup],
    };

    const byTask: Partial<Record<FailbackTaskName, AppFunction>> = {};
    for (const name of Object.keys(failbackTaskSettings) as FailbackTaskName[]) byTask[name] = this.create(name, name);
    this.byTask = byTask as Record<FailbackTaskName, AppFunction>;
  }

  /**
   * Another function for each of `tasks` — the same entry, settings and access as `byTask`'s — whose environment the
   * caller then extends (e.g. the conditional-automated method's pass functions, which stage in an on-prem store:
   * lib/onprem-staging-store.ts). Construct ids are `<Task><suffix>`.
   */
  variant<T extends FailbackTaskName>(suffix: string, tasks: readonly T[]): Record<T, AppFunction> {
    return Object.fromEntries(tasks.map((name) => [name, this.create(name, `${name}${suffix}`)])) as Record<
      T,
      AppFunction
    >;
  }

  private create(name: FailbackTaskName, id: string): AppFunction {
    const settings: FailbackTaskSettings = failbackTaskSettings[name];
    const fn = new AppFunction(this, id, {
      entry: settings.entry,
      description: `homebound ${id}: ${settings.description}`,
      timeout: settings.timeout,
      ...(settings.memorySize === undefined ? {} : { memorySize: settings.memorySize }),
      environment: this.environment,
      ...(settings.inVpc ? { network: this.functionNetwork } : {}),
    });
    this.permissions.grant(fn.role, settings.access);
    if (settings.inVpc) {
      this.permissions.grantVpcNetworkInterfaces(fn.role, {
        subnetIds: [this.network.subnet.subnetId],
        securityGroupId: this.network.securityGroup.securityGroupId,
      });
    }
    allowWildcards(fn.role, [
      'noResourceLevel',
      'ec2TagScoped',
      'launchNetwork',
      'stagingPrefix',
      ...(settings.inVpc ? (['lambdaNetworkInterfaces'] as const) : []),
    ]);
    return fn;
  }
}
