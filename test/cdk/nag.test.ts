import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { makeTestCertificate } from '../support/test-ca.js';
import { synthesizeHomebound, TEST_ENV } from './synth.js';

// Environment-agnostic is what `cdk synth` builds on a fresh checkout; ARNs then hold tokens instead of ids. The
// third builds what only optional keys add: the agent's Roles Anywhere trust anchor, role and profile, and an on-prem
// staging store with the secret the stack makes for it.
describe.each([
  ['for an account and Region', TEST_ENV, () => ({})],
  ['environment-agnostic', undefined, () => ({})],
  [
    'with an agent CA and an on-prem staging store',
    TEST_ENV,
    () => ({
      'homebound:agentCaCertificate': makeTestCertificate('ca'),
      'homebound:onPremStagingEndpoint': 'https://s3.dc1.example:9000',
      'homebound:onPremStagingBucket': 'homebound-staging',
    }),
  ],
])('cdk-nag AwsSolutions and Serverless, %s', (_, env, context) => {
  const { stack, template } = synthesizeHomebound(context(), env);

  it('reports no unsuppressed error', () => {
    const errors = Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('(AwsSolutions|Serverless)-.*'));
    expect(errors.map((e) => `${e.id}: ${String(e.entry.data).split(': The')[0]}`)).toEqual([]);
  });

  it('reports no unsuppressed warning', () => {
    const warnings = Annotations.fromStack(stack).findWarning(
      '*',
      Match.stringLikeRegexp('(AwsSolutions|Serverless)-.*'),
    );
    expect(warnings.map((w) => `${w.id}: ${String(w.entry.data).split(': The')[0]}`)).toEqual([]);
  });

  it('gives every suppression a reason', () => {
    const suppressions = Object.values(template.toJSON().Resources as Record<string, { Metadata?: unknown }>).flatMap(
      (resource) => {
        const metadata = resource.Metadata as { cdk_nag?: { rules_to_suppress: { id: string; reason: string }[] } };
        return metadata?.cdk_nag?.rules_to_suppress ?? [];
      },
    );
    expect(suppressions.length).toBeGreaterThan(0);
    for (const suppression of suppressions) expect(suppression.reason.length, suppression.id).toBeGreaterThan(30);
  });
});
