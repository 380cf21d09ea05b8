import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWorkloadWrites } from '../../cli/drill/verify.js';
import { LOCAL_OPERATOR_EMAIL } from '../../core/failback/local-approvals.js';
import { ExecutionFailedError } from '../../core/orchestration/local-runner.js';
import { type FailbackFixture, startFailbackFixture, statesEntered } from '../support/failback.js';

let fixture: FailbackFixture;
beforeAll(async () => {
  fixture = await startFailbackFixture();
});
afterAll(async () => {
  await fixture?.stop();
});

async function hostState(hostId: string) {
  const [host] = await fixture.env.compute.describeHosts({ hostIds: [hostId] });
  return host?.state;
}

describe('the approval gate (statemachines/automated-failback.asl.json, VerifyDecision)', () => {
  it('rolls back a SendTaskSuccess that no approver decided (an insider holding the task token)', async () => {
    const host = await fixture.takeoverHost('forged', 21);
    const execution = fixture.env.machine.run(fixture.request([host.hostId]), { executionName: 'forged-approval' });
    await fixture.env.approvals.next();
    const waiting = fixture.env.machine.taskTokens
      .pending()
      .find((task) => task.executionName === 'forged-approval' && task.stateName === 'RequestApproval');
    if (!waiting) throw new Error('the run is not waiting for approval');

    // Exactly what the decider would send for the deployment's real approver, but no decision was recorded.
    fixture.env.machine.taskTokens.sendTaskSuccess(waiting.taskToken, {
      approved: true,
      approver: `email:${LOCAL_OPERATOR_EMAIL}`,
      decidedBy: `email:${LOCAL_OPERATOR_EMAIL}`,
      decidedAt: new Date().toISOString(),
    });

    const error = await execution.result.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(ExecutionFailedError);
    expect((error as ExecutionFailedError).error).toBe('FailbackRolledBack');
    expect((error as ExecutionFailedError).cause).toContain('UnverifiedApprovalError');
    expect((error as ExecutionFailedError).cause).toContain('no decision is recorded');
    const states = statesEntered(execution.history);
    expect(states.slice(states.indexOf('RequestApproval'), states.indexOf('Rollback') + 1)).toEqual([
      'RequestApproval',
      'VerifyDecision',
      'ApprovalNotGiven',
      'Rollback',
    ]);
    expect(states).not.toContain('StopTakeoverHosts');
    expect(await hostState(host.hostId)).toBe('running');
    const writes = await checkWorkloadWrites(fixture.env, host);
    expect(writes.lost).toEqual([]);
  });

  it('cuts over on a decision the decider recorded, and hands the recorded decider on (not the wait output)', async () => {
    const host = await fixture.takeoverHost('decided', 22);
    const execution = fixture.env.machine.run(fixture.request([host.hostId]), { executionName: 'decided-approval' });
    const request = await fixture.env.approvals.next();
    // The page can say how old its figures are: the state machine hands over the last pass's time.
    const stored = fixture.env.approvals.store.snapshot().find((approval) => approval.runId === 'decided-approval');
    expect(Date.parse(stored?.summary.lastPassStartedAt ?? '')).toBeGreaterThan(Date.now() - 120_000);
    expect(await fixture.env.approvals.approve(request.runId, 'alice')).toBe(true);

    await expect(execution.result).resolves.toMatchObject({ status: 'succeeded' });
    const verified = execution.history.find(
      (event) => event.type === 'StateExited' && event.stateName === 'VerifyDecision',
    );
    expect(JSON.stringify(verified)).toContain('"approver":"operator:alice"');
    expect(await hostState(host.hostId)).toBe('stopped');
  });
});
