import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { passMapPatterns, runLayout } from '../../core/failback/run-state.js';
import { automatedMethod } from '../../core/methods/automated.js';
import { failbackMethods } from '../../core/methods/registry.js';
import { usesAgentActivity } from '../../lib/agent-activity.js';
import { PROJECT_ROOT } from '../../lib/app-function.js';
import { resourcesOf, statementsOf, synthesizeHomebound } from './synth.js';

const { stack, template } = synthesizeHomebound();
const machines = resourcesOf(template, 'AWS::StepFunctions::StateMachine');

describe('failback state machines', () => {
  it('are one per registered method, each Standard (they wait for task tokens)', () => {
    expect(Object.keys(machines)).toHaveLength(failbackMethods.length);
    for (const machine of Object.values(machines)) expect(machine.Properties.StateMachineType).toBe('STANDARD');
  });

  it("keep the automated machine's logical id (a deployed stack updates it, never replaces it)", () => {
    // The id CDK gave it as AutomatedFailback/StateMachine before the method seam.
    expect(Object.keys(machines).filter((id) => id.startsWith('AutomatedFailbackStateMachine'))).toHaveLength(1);
    const output = template.findOutputs(automatedMethod.stateMachineArnOutput);
    expect(Object.values(output)[0]?.Value).toEqual({
      Ref: stack.resolve(stack.automatedFailback.stateMachine.stateMachineArn).Ref,
    });
  });

  it('has an ARN output per method, named as its description says', () => {
    for (const method of failbackMethods) {
      const machine = stack.failbackStateMachines[method.name].stateMachine;
      const outputs = Object.values(template.findOutputs(method.stateMachineArnOutput));
      expect(outputs.map((output) => output.Value)).toEqual([{ Ref: stack.resolve(machine.stateMachineArn).Ref }]);
    }
  });
});

describe.each(failbackMethods.map((method) => [method.name, method] as const))('the %s state machine', (_, method) => {
  const id = stack.resolve(stack.failbackStateMachines[method.name].stateMachine.stateMachineArn).Ref as string;
  const properties = machines[id]?.Properties ?? {};
  const substitutions = (properties.DefinitionSubstitutions ?? {}) as Record<string, unknown>;

  const functionSubstitutions = Object.entries(substitutions).filter(([name]) => name.endsWith('FunctionArn'));

  it("substitutes every placeholder of its ASL file and no other: one per task of the method's table, and the agent activity where it has Activity Tasks", () => {
    const asl = readFileSync(`${PROJECT_ROOT}${method.aslFile}`, 'utf8');
    const placeholders = new Set([...asl.matchAll(/\$\{([^}]+)\}/g)].map((match) => match[1]));
    expect(placeholders.size).toBeGreaterThan(0);
    expect(new Set(Object.keys(substitutions))).toEqual(placeholders);
    const expected = method.tasks.map((name) => `${name}FunctionArn`);
    if (usesAgentActivity(method)) expected.push('AgentActivityArn');
    expect(new Set(expected)).toEqual(placeholders);
  });

  it('binds each task placeholder to the ARN of a function in the stack', () => {
    const functionIds = Object.keys(resourcesOf(template, 'AWS::Lambda::Function'));
    expect(functionSubstitutions).toHaveLength(method.tasks.length);
    for (const [placeholder, value] of functionSubstitutions) {
      const [logicalId, attribute] = (value as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'];
      expect(functionIds, placeholder).toContain(logicalId);
      expect(attribute).toBe('Arn');
    }
  });

  it('traces with X-Ray and logs every event without execution data (the approval payload holds the task token)', () => {
    expect(properties.TracingConfiguration).toEqual({ Enabled: true });
    expect(properties.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
    const destination = (properties.LoggingConfiguration as { Destinations: unknown[] }).Destinations[0];
    expect(JSON.stringify(destination)).toContain(`${method.constructId}Logs`);
  });

  it('may invoke exactly the functions of its tasks', () => {
    const roleId = stack.resolve(stack.failbackStateMachines[method.name].stateMachine.role.roleName).Ref as string;
    const invoked = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
      .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(roleId))
      .flatMap(
        (policy) =>
          (policy.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement,
      )
      .filter((statement) => statement.Action === 'lambda:InvokeFunction')
      .flatMap((statement) => JSON.stringify(statement.Resource).match(/FailbackFunctions\w+Function\w+/g) ?? []);
    const bound = functionSubstitutions.map(([, value]) => (value as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]);
    expect(new Set(invoked)).toEqual(new Set(bound));
  });

  describe('its StreamPass Distributed Map', () => {
    const machine = stack.failbackStateMachines[method.name].stateMachine;
    const roleId = stack.resolve(machine.role.roleName).Ref as string;
    const statements = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
      .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(roleId))
      .flatMap((policy) => statementsOf(policy.Properties.PolicyDocument));
    const actionsOf = (statement: Record<string, unknown>) => [statement.Action].flat() as string[];
    const granting = (service: string) =>
      statements.filter((statement) => actionsOf(statement).some((action) => action.startsWith(`${service}:`)));
    const stagingBucketArn = stack.resolve(stack.staging.bucket.bucketArn);
    const objects = (pattern: string) => ({ 'Fn::Join': ['', [stagingBucketArn, `/${pattern}`]] });

    it('may start executions of this machine only, and describe and stop only its map runs’ children', () => {
      const states = granting('states');
      expect(states).toHaveLength(2);
      expect(states).toContainEqual(
        expect.objectContaining({ Action: 'states:StartExecution', Resource: { Ref: id }, Effect: 'Allow' }),
      );
      const watch = states.find((statement) => actionsOf(statement).includes('states:DescribeExecution'));
      expect(actionsOf(watch ?? {}).sort()).toEqual(['states:DescribeExecution', 'states:StopExecution']);
      expect(watch?.Resource).toEqual({ 'Fn::Join': ['', expect.any(Array)] });
      const [, parts] = (watch?.Resource as { 'Fn::Join': [string, unknown[]] } | undefined)?.['Fn::Join'] ?? [];
      expect(parts?.slice(-3)).toEqual([
        ':states:eu-west-1:123456789012:execution:',
        { 'Fn::GetAtt': [id, 'Name'] },
        '/*',
      ]);
    });

    it("reads only the passes' item lists and writes only their results prefixes, with the staging key", () => {
      const s3 = granting('s3');
      expect(s3).toHaveLength(2);
      expect(s3).toContainEqual(
        expect.objectContaining({ Action: 's3:GetObject', Resource: objects(passMapPatterns.items) }),
      );
      const results = s3.find((statement) => actionsOf(statement).includes('s3:PutObject'));
      expect(results?.Resource).toEqual(objects(passMapPatterns.results));
      expect(actionsOf(results ?? {}).sort()).toEqual([
        's3:AbortMultipartUpload',
        's3:GetObject',
        's3:ListMultipartUploadParts',
        's3:PutObject',
      ]);
      expect(granting('kms')).toContainEqual(
        expect.objectContaining({
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: stack.resolve(stack.staging.key.keyArn),
        }),
      );
    });

    it("grants the keys the local run writes: a pass's items and results fall under the granted patterns", () => {
      const glob = (pattern: string) => new RegExp(`^${pattern.split('*').map(escapeRegExp).join('[^]*')}$`);
      expect(runLayout.passItemsKey('run-1', 12)).toMatch(glob(passMapPatterns.items));
      expect(`${runLayout.passResultsPrefix('run-1', 12)}/map-run-id/manifest.json`).toMatch(
        glob(passMapPatterns.results),
      );
      expect(runLayout.passItemsKey('run-1', 12)).not.toMatch(glob(passMapPatterns.results));
    });
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
