import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { failbackTasks } from '../../core/failback/tasks.js';
import { PROJECT_ROOT } from '../../lib/app-function.js';
import { AUTOMATED_FAILBACK_ASL } from '../../lib/automated-failback-state-machine.js';
import { resourcesOf, synthesizeHomebound } from './synth.js';

const { template } = synthesizeHomebound();
const [stateMachine, ...others] = Object.values(resourcesOf(template, 'AWS::StepFunctions::StateMachine'));
const properties = stateMachine?.Properties ?? {};
const substitutions = (properties.DefinitionSubstitutions ?? {}) as Record<string, unknown>;

describe('automated failback state machine', () => {
  it('is the only state machine, and Standard (it waits for a task token)', () => {
    expect(others).toHaveLength(0);
    expect(properties.StateMachineType).toBe('STANDARD');
  });

  it('substitutes every placeholder of the ASL file and no other', () => {
    const asl = readFileSync(`${PROJECT_ROOT}${AUTOMATED_FAILBACK_ASL}`, 'utf8');
    const placeholders = new Set([...asl.matchAll(/\$\{([^}]+)\}/g)].map((match) => match[1]));
    expect(placeholders.size).toBeGreaterThan(0);
    expect(new Set(Object.keys(substitutions))).toEqual(placeholders);
    expect(new Set(Object.keys(failbackTasks).map((name) => `${name}FunctionArn`))).toEqual(placeholders);
  });

  it('binds each placeholder to the ARN of a function in the stack', () => {
    const functionIds = Object.keys(resourcesOf(template, 'AWS::Lambda::Function'));
    for (const [placeholder, value] of Object.entries(substitutions)) {
      const [logicalId, attribute] = (value as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'];
      expect(functionIds, placeholder).toContain(logicalId);
      expect(attribute).toBe('Arn');
    }
  });

  it('traces with X-Ray and logs every event without execution data (the approval payload holds the task token)', () => {
    expect(properties.TracingConfiguration).toEqual({ Enabled: true });
    expect(properties.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
    const destination = (properties.LoggingConfiguration as { Destinations: unknown[] }).Destinations[0];
    expect(JSON.stringify(destination)).toMatch(/AutomatedFailbackLogs/);
  });

  it('may invoke every failback function', () => {
    const invoked = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
      .flatMap(
        (policy) =>
          (policy.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement,
      )
      .filter((statement) => statement.Action === 'lambda:InvokeFunction')
      .flatMap((statement) => JSON.stringify(statement.Resource).match(/FailbackFunctions\w+Function\w+/g) ?? []);
    for (const value of Object.values(substitutions)) {
      expect(invoked).toContain((value as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]);
    }
  });
});
