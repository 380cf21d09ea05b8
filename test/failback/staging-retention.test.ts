import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidFailbackRequestError } from '../../core/failback/errors.js';
import { type FailbackDeps, runLayout } from '../../core/failback/run-state.js';
import { cleanUp } from '../../core/failback/steps/clean-up.js';
import { validateRequest } from '../../core/failback/steps/validate-request.js';
import { LOCAL_TAKEOVER_TAG } from '../../core/failback/takeover-tag.js';
import { automatedMethod } from '../../core/methods/automated.js';
import { definitionPath } from '../../core/methods/method.js';
import { resourcesOf, synthesizeHomebound } from '../cdk/synth.js';
import { type ComputeFixture, computeFixture, MiB } from '../compute/local-compute-helpers.js';
import { MemoryStaging } from '../support/memory-staging.js';
import { stepDeps } from '../support/step-deps.js';

/**
 * Issue 12, Reliability 7: a pass's staging must outlive its ack, since a gateway resuming a half-applied pass reads
 * it again. Neither clean-up (only at the end of a run) nor the bucket's expiry may remove it earlier.
 */
let fixture: ComputeFixture;
let hostId: string;
const stagings = new Map<string, MemoryStaging>();

function deps(stagingExpiryDays?: number): FailbackDeps {
  return stepDeps(fixture.compute, {
    staging: (prefix) => {
      const staging = stagings.get(prefix) ?? new MemoryStaging();
      stagings.set(prefix, staging);
      return staging;
    },
    stagingExpiryDays,
  });
}

beforeEach(async () => {
  stagings.clear();
  fixture = await computeFixture();
  const host = await fixture.compute.createTakeoverHost({
    name: 'app',
    volumes: [{ sizeBytes: MiB }],
    writesPerSecond: 0,
    tags: { [LOCAL_TAKEOVER_TAG.key]: LOCAL_TAKEOVER_TAG.value },
  });
  hostId = host.hostId;
});
afterEach(async () => {
  await fixture.cleanup();
});

const request = (applyTimeoutSeconds: number) => ({
  method: 'automated',
  hosts: [hostId],
  target: { platform: 'aws', region: 'eu-west-1' },
  applyTimeoutSeconds,
});

describe('staging is never expired before its ack', () => {
  it('refuses a pass deadline (applyTimeoutSeconds) as long as the staging expiry, naming the field', async () => {
    const error = await validateRequest({ runId: 'r1', request: request(86_400) }, deps(1)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(InvalidFailbackRequestError);
    expect((error as Error).message).toMatch(/applyTimeoutSeconds: 86400 s is not shorter than the staging expiry/);
    await expect(validateRequest({ runId: 'r1', request: request(86_399) }, deps(1))).resolves.toMatchObject({
      request: { applyTimeoutSeconds: 86_399 },
    });
  });

  it('gives every failback function the expiry days the bucket lifecycle rule uses', () => {
    const { template } = synthesizeHomebound({ 'homebound:stagingExpiryDays': '3' });
    const buckets = Object.values(resourcesOf(template, 'AWS::S3::Bucket'));
    const rules = buckets.flatMap(
      (bucket) =>
        (bucket.Properties.LifecycleConfiguration as { Rules: { Prefix?: string; ExpirationInDays?: number }[] })
          ?.Rules ?? [],
    );
    expect(rules.filter((rule) => rule.Prefix === 'runs/').map((rule) => rule.ExpirationInDays)).toEqual([3]);
    const validate = Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).find(([id]) =>
      id.startsWith('FailbackFunctionsValidateRequest'),
    )?.[1];
    const environment = validate?.Properties.Environment as { Variables: Record<string, unknown> } | undefined;
    expect(environment?.Variables.HOMEBOUND_STAGING_EXPIRY_DAYS).toBe('3');
  });
});

describe('staging is deleted only when the run has ended', () => {
  interface State {
    Type: string;
    Resource?: string;
    Next?: string;
    Default?: string;
    Choices?: { Next: string }[];
    Catch?: { Next: string }[];
  }
  const definition = JSON.parse(readFileSync(definitionPath(automatedMethod), 'utf8')) as {
    States: Record<string, State>;
  };
  const predecessors = (target: string) =>
    Object.entries(definition.States)
      .filter(([, state]) =>
        [state.Next, state.Default, ...(state.Choices ?? []), ...(state.Catch ?? [])]
          .map((next) => (typeof next === 'object' ? next.Next : next))
          .includes(target),
      )
      .map(([name]) => name);

  it('runs the clean-up Task only after the verified cutover or after the rollback', () => {
    const cleanUps = Object.entries(definition.States)
      .filter(([, state]) => state.Resource === `\${CleanUpFunctionArn}`)
      .map(([name]) => name)
      .sort();

    expect(cleanUps).toEqual(['CleanUp', 'CleanUpAfterRetireFailure', 'CleanUpAfterRollback']);
    expect(predecessors('CleanUp')).toEqual(['RetireTakeoverHosts']);
    expect(predecessors('CleanUpAfterRetireFailure')).toEqual(['RetireTakeoverHosts']);
    expect(predecessors('RetireTakeoverHosts')).toEqual(['VerifyFailback']);
    expect(predecessors('CleanUpAfterRollback')).toEqual(['RestartTakeoverHosts']);
    expect(predecessors('RestartTakeoverHosts')).toEqual(['Rollback']);
  });

  it("deletes the run's staged passes and every gateway's records of it, and keeps its record", async () => {
    const d = deps();
    await d.staging(runLayout.volumes('r1')).put('vol-a/pass-000001/manifest.json', Buffer.from('{}'));
    await d
      .staging(runLayout.gateways('r1'))
      .put('arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc/heartbeat.json', Buffer.from('{}'));
    await d.staging(runLayout.record('r1')).put('report.json', Buffer.from('{}'));

    const result = await cleanUp({ runId: 'r1' }, d);

    expect(result.objectsDeleted).toBe(2);
    expect(await d.staging(runLayout.volumes('r1')).list('')).toEqual([]);
    expect(await d.staging(runLayout.gateways('r1')).list('')).toEqual([]);
    expect(await d.staging(runLayout.record('r1')).list('')).toEqual(['report.json']);
  });
});
