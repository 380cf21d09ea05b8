import { describe, expect, it } from 'vitest';
import { resourcesOf, synthesizeHomebound } from './synth.js';

/** The policy variable, spelled out (not imported from lib/), so a change to it there fails here. */
const SOURCE_INSTANCE_ARN = `\${ec2:SourceInstanceARN}`;

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
interface Document {
  Statement: Statement[];
}

const { stack, template } = synthesizeHomebound();
const STACK = stack.stackName;

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

/** The statements of one failback function's role, e.g. `PrepareTarget`. */
const statementsOfTask = (task: string) =>
  identityStatements()
    .filter(([id]) => id.startsWith(`FailbackFunctions${task}Role`))
    .map(([, statement]) => statement);
const allows = (statement: Statement, action: string) =>
  statement.Effect === 'Allow' && actionsOf(statement).includes(action);
const resourceKinds = (statement: Statement) =>
  [
    ...JSON.stringify(statement.Resource).matchAll(
      /:(instance|volume|snapshot|image|subnet|network-interface|security-group)\//g,
    ),
  ].map((match) => match[1]);

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

  it('allows EBS direct reads only on snapshots tagged with this stack', () => {
    const reads = identityStatements().filter(([, s]) => actionsOf(s).some((a) => a.startsWith('ebs:')));
    expect(reads.length).toBeGreaterThan(0);
    for (const [id, statement] of reads) {
      expect(JSON.stringify(statement.Resource), id).toMatch(/:snapshot\/\*"/);
      expect(statement.Condition, id).toEqual({ StringEquals: { 'aws:ResourceTag/homebound:stack': STACK } });
    }
  });

  it('conditions every EC2 mutation on a tag, except on resources a run cannot tag', () => {
    const untaggable = /:(image|subnet|network-interface|security-group|volume)\//;
    for (const [id, statement] of identityStatements()) {
      const mutations = actionsOf(statement).filter((a) => a.startsWith('ec2:') && !a.startsWith('ec2:Describe'));
      if (mutations.length === 0 || statement.Condition) continue;
      // Unconditioned: RunInstances on the pinned image/subnet/new ENI, CreateSnapshots on a takeover's volumes, and
      // the network interfaces Lambda makes for the one function in the VPC (CheckHostHealth; no tag on those).
      const lambdaEni = /^ec2:(CreateNetworkInterface|DeleteNetworkInterface|(Assign|Unassign)PrivateIpAddresses)$/;
      if (id.startsWith('FailbackFunctionsCheckHostHealthRole') && mutations.every((a) => lambdaEni.test(a))) {
        expect(JSON.stringify(statement.Resource), id).toMatch(/:network-interface\/\*"/);
        continue;
      }
      expect(mutations, id).toEqual([expect.stringMatching(/^ec2:(RunInstances|CreateSnapshots)$/)]);
      expect(JSON.stringify(statement.Resource), id).toMatch(untaggable);
    }
  });

  it('creates instances, volumes and snapshots only tagged homebound:stack=<this stack>', () => {
    const creates = identityStatements().filter(
      ([, s]) =>
        ['ec2:RunInstances', 'ec2:CreateVolume', 'ec2:CreateSnapshots'].some((action) => allows(s, action)) &&
        resourceKinds(s).some((kind) => kind === 'instance' || kind === 'volume' || kind === 'snapshot'),
    );
    const tagged = creates.filter(([, s]) => s.Condition?.StringEquals?.['aws:RequestTag/homebound:stack'] === STACK);
    // CreateSnapshots also names the takeover instance (takeover tag) and its volumes: existing resources, not
    // created ones; the stack tag goes on the new snapshots, checked in their own statement.
    const untagged = creates.filter(([, s]) => !tagged.some(([, t]) => t === s)).map(([, s]) => s);
    expect(tagged.length).toBeGreaterThanOrEqual(4);
    // A target volume created from a seed snapshot names that snapshot, which must carry the seed opt-in.
    expect(untagged.map((s) => [actionsOf(s), resourceKinds(s)])).toEqual(
      expect.arrayContaining([
        [['ec2:CreateSnapshots'], ['instance']],
        [['ec2:CreateSnapshots'], ['volume']],
        [['ec2:CreateVolume'], ['snapshot']],
      ]),
    );
    expect(untagged).toHaveLength(3);
    const fromSeed = untagged.find((s) => allows(s, 'ec2:CreateVolume'));
    expect(fromSeed?.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/homebound:seed-for': STACK } });
  });

  it('takes over only seeds an operator tagged homebound:seed-for=<this stack>, and only in PrepareTarget', () => {
    const optedIn = { 'aws:ResourceTag/homebound:seed-for': STACK };
    const seedStatements = identityStatements().filter(
      ([, s]) => s.Condition?.StringEquals?.['aws:ResourceTag/homebound:seed-for'] !== undefined,
    );
    expect([...new Set(seedStatements.map(([id]) => id.replace(/Role.*/, '')))]).toEqual([
      'FailbackFunctionsPrepareTarget',
    ]);
    for (const [id, statement] of seedStatements) {
      expect(statement.Condition?.StringEquals, id).toEqual(optedIn);
      expect(
        actionsOf(statement).every(
          (action) =>
            !['ec2:DeleteVolume', 'ec2:DeleteSnapshot', 'ec2:TerminateInstances', 'ec2:AttachVolume'].includes(action),
        ),
        id,
      ).toBe(true);
    }
    const tagging = seedStatements.find(([, s]) => allows(s, 'ec2:CreateTags'));
    expect(tagging?.[1].Condition?.['ForAllValues:StringEquals']).toEqual({
      'aws:TagKeys': ['homebound:stack', 'homebound:run', 'homebound:preserves-seed-of', 'homebound:seed-volume'],
    });
  });

  it('refuses tag keys other than its own when it creates instances and volumes', () => {
    const launches = statementsOfTask('PrepareTarget').filter(
      (s) =>
        allows(s, 'ec2:RunInstances') && resourceKinds(s).every((kind) => kind === 'instance' || kind === 'volume'),
    );
    expect(launches.length).toBeGreaterThan(0);
    for (const statement of launches) {
      const keys = statement.Condition?.['ForAllValues:StringEquals']?.['aws:TagKeys'];
      expect(keys).toEqual(expect.arrayContaining(['homebound:run', 'homebound:stack', 'homebound:role', 'Name']));
      expect(keys).not.toContain('homebound:state');
    }
  });

  it('changes, moves, deletes and reads only what carries homebound:stack=<this stack> (or the takeover tag)', () => {
    const changes = ['ec2:AttachVolume', 'ec2:DetachVolume', 'ec2:DeleteSnapshot', 'ec2:TerminateInstances'];
    const statements = identityStatements().filter(([, s]) => changes.some((action) => allows(s, action)));
    expect(statements.length).toBeGreaterThanOrEqual(4);
    // Or a seed an operator opted in (PrepareTarget detaches it from its instance).
    const seed = { StringEquals: { 'aws:ResourceTag/homebound:seed-for': STACK } };
    for (const [id, statement] of statements) {
      if (JSON.stringify(statement.Condition) === JSON.stringify(seed)) continue;
      expect(statement.Condition?.StringEquals?.['aws:ResourceTag/homebound:stack'], id).toBe(STACK);
    }
    const power = identityStatements().filter(([, s]) => allows(s, 'ec2:StopInstances'));
    expect(power.length).toBeGreaterThan(0);
    const scopes = [
      { StringEquals: { 'aws:ResourceTag/homebound:stack': STACK } },
      { StringEquals: { 'aws:ResourceTag/homebound:takeover': 'true' } },
      seed,
    ];
    for (const [id, statement] of power) expect(scopes, id).toContainEqual(statement.Condition);
  });

  it('lets only RetireTakeoverHosts mark hosts live, and only this stack’s failback hosts with homebound:state=live', () => {
    const marking = identityStatements().filter(
      ([, s]) =>
        allows(s, 'ec2:CreateTags') && s.Condition?.StringEquals?.['aws:RequestTag/homebound:state'] === 'live',
    );
    expect([...new Set(marking.map(([id]) => id.replace(/Role.*/, '')))]).toEqual([
      'FailbackFunctionsRetireTakeoverHosts',
    ]);
    for (const [id, statement] of marking) {
      expect(statement.Condition?.StringEquals?.['aws:ResourceTag/homebound:stack'], id).toBe(STACK);
      expect(statement.Condition?.['ForAllValues:StringEquals'], id).toEqual({ 'aws:TagKeys': ['homebound:state'] });
    }
    const instances = marking.find(([, s]) => resourceKinds(s).includes('instance'));
    expect(instances?.[1].Condition?.StringEquals?.['aws:ResourceTag/homebound:role']).toBe('failback');
  });

  it('denies every role that changes EC2 any change to live hosts and volumes', () => {
    const roles = [...new Set(identityStatements().map(([id]) => id.replace(/Role.*/, '')))].filter((role) =>
      role.startsWith('FailbackFunctions'),
    );
    const changers = roles.filter((role) =>
      identityStatements().some(
        ([id, s]) =>
          id.startsWith(role) &&
          s.Effect === 'Allow' &&
          actionsOf(s).some((a) => a.startsWith('ec2:') && !a.startsWith('ec2:Describe')),
      ),
    );
    expect(changers.length).toBeGreaterThanOrEqual(9);
    for (const role of changers) {
      const denies = identityStatements()
        .filter(([id, s]) => id.startsWith(role) && s.Effect === 'Deny')
        .map(([, s]) => s);
      const denied = denies.filter((s) => s.Condition?.StringEquals?.['aws:ResourceTag/homebound:state'] === 'live');
      const actions = denied.flatMap(actionsOf);
      expect(actions, role).toEqual(
        expect.arrayContaining([
          'ec2:StopInstances',
          'ec2:TerminateInstances',
          'ec2:DetachVolume',
          'ec2:AttachVolume',
          'ec2:DeleteVolume',
          'ec2:ModifyVolume',
          'ec2:ModifyInstanceAttribute',
          'ec2:DeleteTags',
          'ec2:CreateTags',
        ]),
      );
      for (const statement of denied) expect(resourceKinds(statement).sort(), role).toEqual(['instance', 'volume']);
      const createTags = denied.filter((s) => actionsOf(s).includes('ec2:CreateTags'));
      expect(
        createTags.map((s) => s.Condition).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
        role,
      ).toEqual([
        {
          StringEquals: { 'aws:ResourceTag/homebound:state': 'live' },
          'ForAnyValue:StringNotEquals': { 'aws:TagKeys': ['homebound:state'] },
        },
        {
          StringEquals: { 'aws:ResourceTag/homebound:state': 'live' },
          StringNotEquals: { 'aws:RequestTag/homebound:state': 'live' },
        },
      ]);
    }
  });

  it('gives every failback function this stack’s homebound:stack value', () => {
    const failback = Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).filter(([id]) =>
      id.startsWith('FailbackFunctions'),
    );
    expect(failback.length).toBeGreaterThanOrEqual(17);
    for (const [id, fn] of failback) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables.HOMEBOUND_STACK_TAG, id).toBe(STACK);
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

  it('lets each sync gateway write only its acks, apply errors and heartbeat, below its own instance ARN', () => {
    const gatewayWrites = identityStatements().filter(
      ([id, s]) => id.startsWith('SyncGatewayRole') && actionsOf(s).some((a) => /^s3:(Put|Delete)/.test(a)),
    );
    expect(gatewayWrites).toHaveLength(1);
    const [, statement] = gatewayWrites[0] ?? [];
    expect(statement && actionsOf(statement)).toEqual(['s3:PutObject']);
    expect(statement?.Condition).toBeUndefined();
    // Each Resource is Fn::Join of the bucket ARN and one key pattern: the pattern is what IAM matches.
    const patterns = [statement?.Resource]
      .flat()
      .map((resource) => JSON.stringify(resource).match(/"(\/runs\/[^"]*)"\]\]\}$/)?.[1]);
    const own = `/runs/*/gateways/${SOURCE_INSTANCE_ARN}/`;
    expect(patterns.sort()).toEqual(
      [`${own}heartbeat.json`, `${own}volumes/*/pass-*/ack.json`, `${own}volumes/*/pass-*/apply-error.json`].sort(),
    );
  });

  it('lets no statement of the sync gateway role write an ack, apply error or heartbeat outside its own ARN', () => {
    const writes = identityStatements().filter(
      ([id, s]) =>
        id.startsWith('SyncGatewayRole') && actionsOf(s).some((a) => a === '*' || /^s3:(\*|Put\*|PutObject)$/.test(a)),
    );
    const resources = writes.flatMap(([, s]) => [s.Resource].flat()).map((r) => JSON.stringify(r));
    expect(resources.length).toBeGreaterThan(0);
    for (const resource of resources) {
      expect(resource).toContain(`/runs/*/gateways/${SOURCE_INSTANCE_ARN}/`);
      expect(resource).not.toMatch(/\/runs\/\*\/(volumes|gateway)\//);
    }
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

  it('lets only CleanUp terminate instances, and only this stack’s sync gateways and failback hosts', () => {
    const terminating = identityStatements().filter(([, s]) => allows(s, 'ec2:TerminateInstances'));
    expect([...new Set(terminating.map(([id]) => id.replace(/Role.*$/, '')))]).toEqual(['FailbackFunctionsCleanUp']);
    const roles = terminating.map(([id, statement]) => {
      expect(resourceKinds(statement), id).toEqual(['instance']);
      expect(statement.Condition?.StringEquals?.['aws:ResourceTag/homebound:stack'], id).toBe(STACK);
      return statement.Condition?.StringEquals?.['aws:ResourceTag/homebound:role'];
    });
    // Never a takeover host (it carries no role tag) nor a live failback host (the live deny wins).
    expect(roles.sort()).toEqual(['failback', 'gateway']);
  });

  it('lets CleanUp detach this stack’s volumes only from this stack’s failback hosts, and attach nothing', () => {
    const cleanUp = statementsOfTask('CleanUp');
    expect(cleanUp.some((s) => allows(s, 'ec2:AttachVolume'))).toBe(false);
    const detaching = cleanUp.filter((s) => allows(s, 'ec2:DetachVolume'));
    expect(detaching.map((s) => [resourceKinds(s), s.Condition])).toEqual([
      [
        ['instance'],
        { StringEquals: { 'aws:ResourceTag/homebound:role': 'failback', 'aws:ResourceTag/homebound:stack': STACK } },
      ],
      [['volume'], { StringEquals: { 'aws:ResourceTag/homebound:stack': STACK } }],
    ]);
  });

  it('lets only PrepareTarget and CleanUp tag and untag, and only own volumes and snapshots with the kept-target keys', () => {
    const taggers = identityStatements().filter(([, s]) => allows(s, 'ec2:DeleteTags'));
    expect(taggers.map(([id]) => id.replace(/Role.*$/, '')).sort()).toEqual([
      'FailbackFunctionsCleanUp',
      'FailbackFunctionsPrepareTarget',
    ]);
    for (const [id, statement] of taggers) {
      expect(resourceKinds(statement).sort(), id).toEqual(['snapshot', 'volume']);
      expect(statement.Condition?.StringEquals, id).toEqual({ 'aws:ResourceTag/homebound:stack': STACK });
      expect(statement.Condition?.['ForAllValues:StringEquals']?.['aws:TagKeys'], id).toEqual([
        'homebound:kept-for',
        'homebound:holds-pass',
        'homebound:holds-snapshot',
        'homebound:base-of',
        'homebound:run',
      ]);
    }
  });
});
