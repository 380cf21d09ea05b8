import { fileURLToPath } from 'node:url';
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

/** The repository root: entry points, package-lock.json and tsconfig.json are found from here. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Context flag that replaces esbuild bundles with a stub handler; tests set it, `cdk synth`/`deploy` never do. */
export const SKIP_BUNDLING_CONTEXT = 'homebound:skipBundling';

export interface AppFunctionProps {
  /** Entry file relative to the project root, e.g. `functions/stream-pass.ts`; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly timeout: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** String values only: Lambda environment variables are strings. */
  readonly environment: Readonly<Record<string, string>>;
  /** @default ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Places the function in these subnets with these groups. The caller grants the role the network interface rights
   * Lambda needs (the function's own role holds nothing else). @default not in a VPC
   */
  readonly network?: AppFunctionNetwork;
}

export interface AppFunctionNetwork {
  readonly vpc: ec2.IVpc;
  readonly subnets: readonly ec2.ISubnet[];
  readonly securityGroups: readonly ec2.ISecurityGroup[];
}

/**
 * A Lambda function with homebound's defaults: Node.js 22 on arm64, esbuild-bundled ESM (locally, no Docker), JSON
 * logs into its own log group with retention, X-Ray tracing, and its own role holding nothing but log writes until
 * a caller grants more. Node 22 rather than 24 because the project (engines, local stand-ins) targets 22.
 */
export class AppFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: AppFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // An own role instead of the default one: AWSLambdaBasicExecutionRole would allow writing to every log group.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `homebound ${id}`,
    });
    this.logGroup.grantWrite(this.role);

    const common = {
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize ?? 512,
      role: this.role,
      tracing: lambda.Tracing.ACTIVE,
      loggingFormat: lambda.LoggingFormat.JSON,
      logGroup: this.logGroup,
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      ...(props.network
        ? {
            vpc: props.network.vpc,
            vpcSubnets: { subnets: [...props.network.subnets] },
            securityGroups: [...props.network.securityGroups],
          }
        : {}),
    } satisfies lambda.FunctionOptions & { runtime: lambda.Runtime };

    this.function = this.node.tryGetContext(SKIP_BUNDLING_CONTEXT)
      ? new lambda.Function(this, 'Function', {
          ...common,
          handler: 'index.handler',
          code: lambda.Code.fromInline('exports.handler = async () => { throw new Error("test stub"); };'),
        })
      : new NodejsFunction(this, 'Function', {
          ...common,
          entry: `${PROJECT_ROOT}${props.entry}`,
          handler: 'handler',
          projectRoot: PROJECT_ROOT,
          depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
          bundling: {
            forceDockerBundling: false,
            format: OutputFormat.ESM,
            target: 'node22',
            minify: true,
            sourceMap: true,
            // Bundle the AWS SDK rather than use the runtime's copy: the EBS client relies on recent behaviour
            // (throwOnRequestTimeout) and the runtime's SDK version is not ours to pin.
            externalModules: [],
            // Some bundled CommonJS dependencies call require(); ESM output needs one.
            banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
          },
        });
    NagSuppressions.addResourceSuppressions(this.function, [
      { id: 'AwsSolutions-L1', reason: 'homebound targets Node.js 22 (package.json engines, the local stand-ins).' },
      {
        id: 'Serverless-LambdaLatestVersion',
        reason: 'homebound targets Node.js 22 (package.json engines, the local stand-ins); runtimes move together.',
      },
      {
        id: 'Serverless-LambdaDLQ',
        reason:
          'A DLQ only catches failed asynchronous invocations. Step Functions Tasks and function URLs invoke ' +
          'synchronously and see the error; the reminder sweep runs again within 5 minutes.',
      },
    ]);
  }
}
