import { describe, expect, it } from 'vitest';
import { conditionalAutomatedMethod } from '../../core/methods/conditional-automated.js';
import { resourcesOf, synthesizeHomebound } from './synth.js';

const { stack, template } = synthesizeHomebound();
const machine = stack.failbackStateMachines['conditional-automated'].stateMachine;
const machineRef = stack.resolve(machine.stateMachineArn).Ref as string;
const topicRef = stack.resolve(stack.notifications.topic.topicArn).Ref as string;

/** The conditional-automated method is deployed and watched as the automated one is (issue 13 item 9). */
describe('the conditional-automated deployment', () => {
  it('is started by a "Failback Requested" event with detail.method conditional-automated', () => {
    const rule = Object.values(resourcesOf(template, 'AWS::Events::Rule')).find((r) =>
      String(JSON.stringify(r.Properties.EventPattern)).includes('"conditional-automated"'),
    );
    expect(rule?.Properties.EventPattern).toMatchObject({ detail: { method: ['conditional-automated'] } });
    expect(rule?.Properties.Targets).toEqual([expect.objectContaining({ Arn: { Ref: machineRef } })]);
  });

  it("has its own failed-run alarm, notifying the operators' topic", () => {
    const alarms = Object.entries(resourcesOf(template, 'AWS::CloudWatch::Alarm')).filter(([id]) =>
      id.startsWith(`MonitoringFailedRun${conditionalAutomatedMethod.constructId}`),
    );
    expect(alarms).toHaveLength(1);
    const alarm = alarms[0]?.[1].Properties;
    expect(JSON.stringify(alarm?.Metrics)).toContain(machineRef);
    expect(alarm?.AlarmActions).toEqual([{ Ref: topicRef }]);
  });

  it('has its row on the dashboard and its ended runs notified like the automated ones', () => {
    const [dashboard] = Object.values(resourcesOf(template, 'AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    expect(body).toContain('Runs of the conditional-automated method');
    expect(body).toContain(machineRef);
    const status = Object.entries(resourcesOf(template, 'AWS::Events::Rule')).find(([id]) =>
      id.startsWith('NotificationsRunEnded'),
    );
    expect(JSON.stringify(status?.[1].Properties.EventPattern)).toContain(machineRef);
  });

  it('outputs its ARN where `homebound start` and `status` look it up', () => {
    const outputs = Object.values(template.findOutputs(conditionalAutomatedMethod.stateMachineArnOutput));
    expect(outputs.map((output) => output.Value)).toEqual([{ Ref: machineRef }]);
  });
});
