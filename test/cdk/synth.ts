import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Aspects } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { PROJECT_ROOT, SKIP_BUNDLING_CONTEXT } from '../../lib/app-function.js';
import { readConfig } from '../../lib/config.js';
import { HomeboundStack } from '../../lib/homebound-stack.js';
import { TEST_TEMP_ROOT_ENV } from '../support/temp-root.js';

/** An account and Region as `cdk deploy` resolves them; without it the stack is environment-agnostic (tokens). */
export const TEST_ENV = { account: '123456789012', region: 'eu-west-1' } as const;

/** The stack as `cdk synth` builds it from cdk.json, with cdk-nag applied; bundling is stubbed (README). */
export function synthesizeHomebound(
  context: Record<string, unknown> = {},
  env: typeof TEST_ENV | undefined = TEST_ENV,
) {
  const cdkJson = JSON.parse(readFileSync(`${PROJECT_ROOT}cdk.json`, 'utf8')) as { context: Record<string, unknown> };
  // Under the run's temp root, which the run removes at its end (assertions synthesize again and cdk-nag writes its
  // reports here, so it must outlive this call); by default every App leaves a cdk.outXXXX dir in the temp dir.
  const outdir = mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), 'cdk-'));
  const app = new App({ outdir, context: { ...cdkJson.context, ...context, [SKIP_BUNDLING_CONTEXT]: true } });
  const config = readConfig((key) => app.node.tryGetContext(key));
  const stack = new HomeboundStack(app, 'HomeboundTest', {
    config,
    ...(env ? { env } : {}),
  });
  Aspects.of(stack).add(new AwsSolutionsChecks());
  Aspects.of(stack).add(new ServerlessChecks());
  return { stack, template: Template.fromStack(stack) };
}

export type Resources = Record<string, { Type: string; Properties: Record<string, unknown>; Metadata?: unknown }>;

/** Every resource of `type` by logical id. */
export function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

/** The logical id in `{ "Fn::GetAtt": [id, attribute] }`; throws on anything else so a test fails clearly. */
export function getAttLogicalId(value: unknown): string {
  const id = (value as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
  if (id === undefined) throw new Error(`expected Fn::GetAtt, got ${JSON.stringify(value)}`);
  return id;
}

/** The statements of a policy document property. */
export function statementsOf(document: unknown): Record<string, unknown>[] {
  return (document as { Statement?: Record<string, unknown>[] } | undefined)?.Statement ?? [];
}
