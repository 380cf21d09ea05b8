import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { synthesizeHomebound, TEST_ENV } from './synth.js';

// Environment-agnostic is what `cdk synth` builds on a fresh checkout; ARNs then hold tokens instead of ids.
describe.each([
  ['for an account and Region', TEST_ENV],
  ['environment-agnostic', undefined],
])('cdk-nag AwsSolutions and Serverless, %s', (_, env) => {
  const { stack, template } = synthesizeHomebound({}, env);

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
