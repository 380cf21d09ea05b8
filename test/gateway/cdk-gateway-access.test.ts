import { describe, expect, it } from 'vitest';
import { resourcesOf, synthesizeHomebound } from '../cdk/synth.js';

/** Issue 12, Security 5: what the gateway role may write, and who may read the secret its run keys come from. */
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

const { template } = synthesizeHomebound();
const policies = Object.values(resourcesOf(template, 'AWS::IAM::Policy'));
const [secretId = ''] = Object.keys(resourcesOf(template, 'AWS::SecretsManager::Secret')).filter((id) =>
  id.startsWith('GatewayAckSecret'),
);

/** Statements of the policies attached to roles whose logical id starts with `rolePrefix`. */
function statementsOfRole(rolePrefix: string): Statement[] {
  return policies
    .filter((policy) => (policy.Properties.Roles as { Ref: string }[]).some((role) => role.Ref.startsWith(rolePrefix)))
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
const actionsOf = (statement: Statement) => [statement.Action].flat();

describe('sync gateway access (CDK)', () => {
  it('lets the gateway role put only acks, apply errors and its heartbeat below its own instance ARN, and delete nothing', () => {
    const statements = statementsOfRole('SyncGatewayRole');
    const writes = statements.filter((s) => actionsOf(s).some((a) => /^s3:(Put|Delete|Abort)/.test(a)));

    expect(writes.flatMap(actionsOf)).toEqual(['s3:PutObject']);
    const keys = [writes[0]?.Resource]
      .flat()
      .map((resource) => JSON.stringify(resource).match(/"(\/runs\/[^"]*)"\]\]\}$/)?.[1])
      .sort();
    // Each below the writing instance's own ARN (IAM policy variable), so no gateway writes where another run reads.
    const own = `/runs/*/gateways/\${ec2:SourceInstanceARN}/`;
    expect(keys).toEqual([
      `${own}heartbeat.json`,
      `${own}volumes/*/pass-*/ack.json`,
      `${own}volumes/*/pass-*/apply-error.json`,
    ]);
    const reads = statements
      .filter((s) => actionsOf(s).includes('s3:GetObject'))
      .map((s) => JSON.stringify(s.Resource));
    expect(reads.filter((r) => r.includes('runs/'))).toEqual([expect.stringContaining('/runs/*/volumes/*"')]);
  });

  it('gives the gateway-ack secret to PrepareTarget, PlanOnPremRun, CheckApplied, StreamPass and CleanUp only (never to the gateway)', () => {
    expect(secretId).not.toBe('');
    const readers = policies
      .filter((policy) =>
        (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement.some(
          (s) =>
            actionsOf(s).includes('secretsmanager:GetSecretValue') && JSON.stringify(s.Resource).includes(secretId),
        ),
      )
      .flatMap((policy) => (policy.Properties.Roles as { Ref: string }[]).map((role) => role.Ref))
      .sort();
    expect(readers).toEqual([
      expect.stringMatching(/^FailbackFunctionsCheckAppliedRole/),
      expect.stringMatching(/^FailbackFunctionsCleanUpRole/),
      expect.stringMatching(/^FailbackFunctionsPlanOnPremRunRole/),
      expect.stringMatching(/^FailbackFunctionsPrepareTargetRole/),
      expect.stringMatching(/^FailbackFunctionsStreamPassRole/),
    ]);
    expect(statementsOfRole('SyncGatewayRole').flatMap(actionsOf)).not.toContain('secretsmanager:GetSecretValue');

    const withVariable = Object.entries(resourcesOf(template, 'AWS::Lambda::Function'))
      .filter(([, fn]) => {
        const variables = (fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables;
        return JSON.stringify(variables?.HOMEBOUND_GATEWAY_ACK_SECRET_ARN ?? null).includes(secretId);
      })
      .map(([id]) => id)
      .sort();
    expect(withVariable).toEqual([
      expect.stringMatching(/^FailbackFunctionsCheckApplied/),
      expect.stringMatching(/^FailbackFunctionsCleanUp/),
      expect.stringMatching(/^FailbackFunctionsPlanOnPremRun/),
      expect.stringMatching(/^FailbackFunctionsPrepareTarget/),
      expect.stringMatching(/^FailbackFunctionsStreamPass/),
    ]);
  });
});
