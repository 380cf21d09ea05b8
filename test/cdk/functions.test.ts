import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { failbackMethods } from '../../core/methods/registry.js';
import { PROJECT_ROOT } from '../../lib/app-function.js';
import { resourcesOf, synthesizeHomebound } from './synth.js';

const { template } = synthesizeHomebound();
const functions = Object.entries(resourcesOf(template, 'AWS::Lambda::Function'));
const logGroups = resourcesOf(template, 'AWS::Logs::LogGroup');

/** Smallest TimeoutSeconds of every method's ASL Task states per `${…FunctionArn}` placeholder they call. */
function stateTimeouts(): Map<string, number> {
  const timeouts = new Map<string, number>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(visit);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const state = value as Record<string, unknown>;
    // A Task names its function in Resource, or in Parameters.FunctionName for .waitForTaskToken.
    const placeholder = state.Type === 'Task' ? JSON.stringify(state).match(/\$\{(\w+FunctionArn)\}/)?.[1] : undefined;
    if (placeholder && typeof state.TimeoutSeconds === 'number') {
      timeouts.set(placeholder, Math.min(timeouts.get(placeholder) ?? Infinity, state.TimeoutSeconds));
    }
    Object.values(state).forEach(visit);
  };
  for (const method of failbackMethods) visit(JSON.parse(readFileSync(`${PROJECT_ROOT}${method.aslFile}`, 'utf8')));
  return timeouts;
}

describe('failback functions', () => {
  it('run on nodejs22.x arm64 with active tracing and JSON logs', () => {
    expect(functions.length).toBeGreaterThanOrEqual(17);
    for (const [, fn] of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogFormat: 'JSON' },
      });
    }
  });

  it('log into their own log group, which has a retention', () => {
    const used = new Set<string>();
    for (const [id, fn] of functions) {
      const ref = (fn.Properties.LoggingConfig as { LogGroup?: { Ref?: string } }).LogGroup?.Ref;
      expect(ref, `${id} names no log group`).toBeDefined();
      expect(logGroups[ref ?? '']?.Properties?.RetentionInDays, `${id}'s log group`).toBeGreaterThan(0);
      expect(used.has(ref ?? ''), `${id} shares a log group`).toBe(false);
      used.add(ref ?? '');
    }
  });

  it('time out no later than the shortest ASL state that calls them', () => {
    // A task shared by two methods is one function: each machine substitutes the same one.
    const substitutions = Object.assign(
      {},
      ...Object.values(resourcesOf(template, 'AWS::StepFunctions::StateMachine')).map(
        (machine) => machine.Properties.DefinitionSubstitutions,
      ),
    ) as Record<string, { 'Fn::GetAtt': [string, string] }>;
    for (const [placeholder, stateTimeout] of stateTimeouts()) {
      const logicalId = substitutions[placeholder]?.['Fn::GetAtt'][0] ?? '';
      const timeout = resourcesOf(template, 'AWS::Lambda::Function')[logicalId]?.Properties?.Timeout;
      expect(timeout, placeholder).toBeLessThanOrEqual(stateTimeout);
    }
  });

  it('give StreamPass 15 minutes and about one vCPU', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: `homebound StreamPass: Streams one volume's pass into staging, continuing from its cursor`,
      Timeout: 900,
      MemorySize: 1769,
    });
  });

  it('hand every failback function the deployment convergence threshold', () => {
    const configured = synthesizeHomebound({ 'homebound:convergenceThresholdMiB': '32' }).template;
    const thresholds = Object.entries(resourcesOf(configured, 'AWS::Lambda::Function'))
      .filter(([id]) => id.startsWith('FailbackFunctions'))
      .map(([, fn]) => (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables);
    expect(new Set(thresholds.map((v) => v.HOMEBOUND_CONVERGENCE_THRESHOLD_MIB))).toEqual(new Set(['32']));
  });

  it('hand every failback function the failback types, subnets and tag keys IAM allows, which ValidateRequest checks', () => {
    const variablesOf = (context: Record<string, string>) =>
      Object.entries(resourcesOf(synthesizeHomebound(context).template, 'AWS::Lambda::Function'))
        .filter(([id]) => id.startsWith('FailbackFunctions'))
        .map(([, fn]) => (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables);
    const lists = (variables: Record<string, unknown>[]) =>
      new Set(
        variables.map((v) =>
          JSON.stringify([
            v.HOMEBOUND_FAILBACK_INSTANCE_TYPES,
            v.HOMEBOUND_FAILBACK_SUBNET_IDS,
            v.HOMEBOUND_FAILBACK_TAG_KEYS,
          ]),
        ),
      );
    const defaults = variablesOf({ 'homebound:instanceType': 'm7g.large', 'homebound:subnetId': 'subnet-0abc' });
    expect(lists(defaults)).toEqual(new Set([JSON.stringify(['m7g.large', 'subnet-0abc', undefined])]));
    const configured = variablesOf({
      'homebound:failbackInstanceTypes': 'm7g.large,r7g.xlarge',
      'homebound:failbackSubnetIds': 'subnet-0a,subnet-0b',
      'homebound:failbackTagKeys': 'app',
    });
    expect(lists(configured)).toEqual(
      new Set([JSON.stringify(['m7g.large,r7g.xlarge', 'subnet-0a,subnet-0b', 'app'])]),
    );
  });

  it('hand every failback function the configured takeover tag, which ValidateRequest checks', () => {
    const tagged = synthesizeHomebound({ 'homebound:takeoverTag': 'dr:takeover=yes' }).template;
    const failback = Object.entries(resourcesOf(tagged, 'AWS::Lambda::Function'))
      .filter(([id]) => id.startsWith('FailbackFunctions'))
      .map(([, fn]) => fn);
    expect(failback.length).toBeGreaterThanOrEqual(17);
    const variables = failback.map(
      (fn) => (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables.HOMEBOUND_TAKEOVER_TAG,
    );
    expect(new Set(variables)).toEqual(new Set(['dr:takeover=yes']));
  });
});
