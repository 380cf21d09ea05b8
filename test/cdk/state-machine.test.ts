import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { automatedMethod } from '../../core/methods/automated.js';
import { failbackMethods } from '../../core/methods/registry.js';
import { usesAgentActivity } from '../../lib/agent-activity.js';
import { PROJECT_ROOT } from '../../lib/app-function.js';
import { resourcesOf, synthesizeHomebound } from './synth.js';

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
});
