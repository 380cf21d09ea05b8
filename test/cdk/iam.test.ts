import { describe, expect, it } from 'vitest';
import { resourcesOf, synthesizeHomebound } from './synth.js';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
interface Document {
  Statement: Statement[];
}

const { template } = synthesizeHomebound();

/** Every identity-policy statement with the logical id of the policy or role holding it. */
function identityStatements(): [string, Statement][] {
  const documents: [string, Document][] = [
    ...Object.entries(resourcesOf(template, 'AWS::IAM::Policy')),
    ...Object.entries(resourcesOf(template, 'AWS::IAM::ManagedPolicy')),
  ].map(([id, policy]) => [id, policy.Properties.PolicyDocument as Document]);
  for (const [id, role] of Object.entries(resourcesOf(template, 'AWS::IAM::Role'))) {
    for (const inline of (role.Properties.Policies ?? []) as { PolicyDocument: Document }[]) {
      documents.push([id, inline.PolicyDocument]);
    }
  }
  return documents.flatMap(([id, document]) => document.Statement.map((s): [string, Statement] => [id, s]));
}
const actionsOf = (statement: Statement) => [statement.Action].flat();

describe('IAM', () => {
  it('grants no action with a wildcard', () => {
    const statements = identityStatements();
    expect(statements.length).toBeGreaterThan(17);
    const wildcards = statements.flatMap(([id, s]) =>
      actionsOf(s)
        .filter((a) => a.includes('*'))
        .map((a) => `${id}: ${a}`),
    );
    expect(wildcards).toEqual([]);
  });

  it('allows EBS direct reads only on snapshots tagged homebound:run', () => {
    const reads = identityStatements().filter(([, s]) => actionsOf(s).some((a) => a.startsWith('ebs:')));
    expect(reads.length).toBeGreaterThan(0);
    for (const [id, statement] of reads) {
      expect(JSON.stringify(statement.Resource), id).toMatch(/:snapshot\/\*"/);
      expect(statement.Condition, id).toEqual({ Null: { 'aws:ResourceTag/homebound:run': 'false' } });
    }
  });

  it('conditions every EC2 mutation on a tag, except on resources a run cannot tag', () => {
    const untaggable = /:(image|subnet|network-interface|security-group|volume)\//;
    for (const [id, statement] of identityStatements()) {
      const mutations = actionsOf(statement).filter((a) => a.startsWith('ec2:') && !a.startsWith('ec2:Describe'));
      if (mutations.length === 0 || statement.Condition) continue;
      // Unconditioned: RunInstances on the pinned image/subnet/new ENI, CreateSnapshots on a takeover's volumes.
      expect(mutations, id).toEqual([expect.stringMatching(/^ec2:(RunInstances|CreateSnapshots)$/)]);
      expect(JSON.stringify(statement.Resource), id).toMatch(untaggable);
    }
  });

  it('lets functions pass only the sync gateway role, and only to EC2', () => {
    const passes = identityStatements().filter(([, s]) => actionsOf(s).includes('iam:PassRole'));
    expect(passes.length).toBeGreaterThan(0);
    for (const [id, statement] of passes) {
      expect(actionsOf(statement), id).toEqual(['iam:PassRole']);
      expect(statement.Resource, id).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^SyncGatewayRole/), 'Arn'] });
      expect(statement.Condition, id).toEqual({ StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
    }
  });

  it('lets only PrepareTarget, which launches the gateway, pass a role', () => {
    const passers = identityStatements()
      .filter(([, s]) => actionsOf(s).includes('iam:PassRole'))
      .map(([id]) => id);
    expect(passers).toEqual([expect.stringMatching(/^FailbackFunctionsPrepareTargetRole/)]);
  });

  it('lets the sync gateway write only its acknowledgements, apply errors and heartbeat', () => {
    const gatewayWrites = identityStatements().filter(
      ([id, s]) => id.startsWith('SyncGatewayRole') && actionsOf(s).some((a) => /^s3:(Put|Delete)/.test(a)),
    );
    expect(gatewayWrites).toHaveLength(1);
    expect(JSON.stringify(gatewayWrites[0]?.[1].Resource)).toMatch(
      /runs\/\*\/gateway\/heartbeat\.json.*runs\/\*\/volumes\/\*\/pass-\*\/ack\.json.*pass-\*\/apply-error\.json/,
    );
  });

  it('lets the sync gateway read only its bundle (one asset object) and staged runs', () => {
    const gatewayReads = identityStatements().filter(
      ([id, s]) => id.startsWith('SyncGatewayRole') && actionsOf(s).includes('s3:GetObject'),
    );
    const resources = gatewayReads.flatMap(([, s]) => [s.Resource].flat()).map((r) => JSON.stringify(r));
    expect(resources).toHaveLength(2);
    expect(resources.find((r) => r.includes('runs/*'))).toBeDefined();
    const asset = resources.find((r) => !r.includes('runs/*'));
    // arn:<partition>:s3:::<bootstrap asset bucket>/<content hash>.mjs: one object, no wildcard.
    expect(asset).toMatch(/:s3:::.*cdk-[a-z0-9]+-assets-.*\/[0-9a-f]{64}\.mjs"\]\]\}$/);
    expect(asset).not.toContain('*');
  });

  it('gives every failback function the gateway bundle location and SHA-256', () => {
    const failback = Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).filter(([id]) =>
      id.startsWith('FailbackFunctions'),
    );
    expect(failback.length).toBeGreaterThanOrEqual(17);
    for (const [id, fn] of failback) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(JSON.stringify(variables.HOMEBOUND_GATEWAY_ARTIFACT_URI), id).toMatch(/s3:\/\/cdk-.*\/[0-9a-f]{64}\.mjs/);
      expect(variables.HOMEBOUND_GATEWAY_ARTIFACT_SHA256, id).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('gives every failback function the gateway instance profile ARN', () => {
    const failback = Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).filter(([id]) =>
      id.startsWith('FailbackFunctions'),
    );
    expect(failback.length).toBeGreaterThanOrEqual(17);
    for (const [id, fn] of failback) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables.HOMEBOUND_GATEWAY_INSTANCE_PROFILE_ARN, id).toEqual({
        'Fn::GetAtt': [expect.stringMatching(/^SyncGatewayInstanceProfile/), 'Arn'],
      });
    }
  });
});
