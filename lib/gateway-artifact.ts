import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { buildSync } from 'esbuild';
import { PROJECT_ROOT, SKIP_BUNDLING_CONTEXT } from './app-function.js';

/** The gateway's entry: `homebound gateway` only (cli/gateway-artifact.ts). */
export const GATEWAY_ENTRY = 'cli/gateway-artifact.ts';
/** The artifact's file name, on S3 (as the asset) and on the gateway (/opt/homebound/). */
export const GATEWAY_ARTIFACT_FILE = 'homebound-gateway.mjs';

/**
 * Bundles the sync gateway into `<outDir>/homebound-gateway.mjs`: one ESM file for Node 22 holding homebound and every
 * dependency it uses (the AWS SDK included), so the instance needs Node and this file, no node_modules.
 * @returns the file and its SHA-256 (hex), which the user data checks before running it
 * @throws esbuild's error when the sources do not bundle
 */
export function buildGatewayArtifact(outDir: string): { path: string; sha256: string } {
  return bundleCliEntry(GATEWAY_ENTRY, join(outDir, GATEWAY_ARTIFACT_FILE));
}

/**
 * Bundles one CLI entry (a `cli/*-artifact.ts` that registers only its command) into `outfile`: ESM for Node 22,
 * every dependency inside, minified. Shared by the sync gateway and the on-prem agent (lib/agent-artifact.ts).
 * @returns the file and its SHA-256 (hex)
 * @throws esbuild's error when the sources do not bundle
 */
export function bundleCliEntry(entry: string, outfile: string): { path: string; sha256: string } {
  buildSync({
    entryPoints: [join(PROJECT_ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    legalComments: 'none',
    logLevel: 'error',
    // Some bundled CommonJS dependencies call require(); ESM output needs one.
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  return { path: outfile, sha256: sha256Of(outfile) };
}

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * The sync gateway artifact as a CDK file asset (uploaded to the CDK bootstrap bucket by `cdk deploy`): where it is,
 * its SHA-256, and a grant to read exactly that object. With the `homebound:skipBundling` context (tests) the asset
 * is a stub that only says so; `cdk synth`/`deploy` always bundle.
 */
export class GatewayArtifact extends Construct {
  readonly asset: s3assets.Asset;
  /** `s3://<bucket>/<key>`, what the user data downloads. */
  readonly uri: string;
  /** SHA-256 (hex) of the file, what the user data checks. */
  readonly sha256: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const outDir = mkdtempSync(join(tmpdir(), 'homebound-gateway-'));
    try {
      let built: { path: string; sha256: string };
      if (this.node.tryGetContext(SKIP_BUNDLING_CONTEXT)) {
        const path = join(outDir, GATEWAY_ARTIFACT_FILE);
        writeFileSync(
          path,
          'console.error("homebound gateway: test stub, built with homebound:skipBundling"); process.exit(1);\n',
        );
        built = { path, sha256: sha256Of(path) };
      } else {
        built = buildGatewayArtifact(outDir);
      }
      // The asset is copied into the cloud assembly here, so the build directory can go at once.
      this.asset = new s3assets.Asset(this, 'Asset', { path: built.path });
      this.sha256 = built.sha256;
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
    this.uri = this.asset.s3ObjectUrl;
  }

  /** s3:GetObject on this object only (the asset's own grantRead allows the whole bootstrap bucket's List/Get*). */
  grantRead(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [
          Stack.of(this).formatArn({
            service: 's3',
            region: '',
            account: '',
            resource: this.asset.s3BucketName,
            resourceName: this.asset.s3ObjectKey,
          }),
        ],
      }),
    );
  }
}
