import { describe, expect, it } from 'vitest';
import { UnverifiedApprovalError } from '../../core/approvals/errors.js';
import type { Decision } from '../../core/approvals/record.js';
import { type DecisionAllowList, verifyRecordedDecision } from '../../core/approvals/verify.js';
import { APPROVER, approvalFixture, form, nonceOf, pageRequest } from './fixture.js';

const RUN = 'run-2026-11-23';
const allowList: DecisionAllowList = {
  approvers: { emails: [APPROVER, 'second@example.com'], slackUserIds: ['U0APPROVER'] },
  operators: false,
};

/** A decision written straight into the store, as whoever can write the table (not the decider) would. */
const decision = (overrides: Partial<Decision> = {}): Decision => ({
  outcome: 'approved',
  approver: `email:${APPROVER}`,
  channel: 'page',
  decidedAt: '2026-11-23T12:05:00.000Z',
  origin: {},
  ...overrides,
});

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof UnverifiedApprovalError)) throw new Error(`expected UnverifiedApprovalError, got ${error}`);
  return error.message;
}

describe('verifyRecordedDecision (VerifyDecision)', () => {
  it('proves an approval the page recorded, naming the approver from the store', async () => {
    const { page, request, store } = approvalFixture();
    const { link } = await request();
    const nonce = nonceOf((await page.handle(pageRequest(link))).body);
    await page.handle(pageRequest(link, 'POST', form('approve', nonce)));

    await expect(verifyRecordedDecision(store, RUN, allowList)).resolves.toMatchObject({
      approved: true,
      approver: `email:${APPROVER}`,
      channel: 'page',
    });
  });

  it('refuses a run with no recorded decision (the token was completed by something else)', async () => {
    const { request, store } = approvalFixture();
    await request();
    expect(await refusal(verifyRecordedDecision(store, RUN, allowList))).toContain('no decision is recorded');
  });

  it('refuses a rejection, a timeout, and a decision of another run', async () => {
    const { request, store } = approvalFixture();
    const { approval } = await request();
    await store.decide(approval.approvalId, RUN, decision({ outcome: 'rejected' }));
    expect(await refusal(verifyRecordedDecision(store, RUN, allowList))).toContain('"rejected"');

    const other = await request(APPROVER, { runId: 'run-other' });
    await store.decide(other.approval.approvalId, 'run-other', decision({ outcome: 'timed-out' }));
    expect(await refusal(verifyRecordedDecision(store, 'run-other', allowList))).toContain('"timed-out"');

    // An audit record planted under this run for another run's approval.
    const third = await request(APPROVER, { runId: 'run-third' });
    await store.decide(third.approval.approvalId, 'run-mine', decision({ decidedAt: '2026-11-23T12:06:00.000Z' }));
    expect(await refusal(verifyRecordedDecision(store, 'run-mine', allowList))).toContain('is for run run-third');
  });

  it('refuses an approver off the deployment list, even if the record lists them', async () => {
    const { request, store } = approvalFixture();
    const { approval } = await request();
    await store.decide(approval.approvalId, RUN, decision({ approver: 'email:mallory@example.com' }));
    expect(await refusal(verifyRecordedDecision(store, RUN, allowList))).toContain(
      'email:mallory@example.com is not on the deployment',
    );
  });

  it('refuses an operator decision on AWS (no terminal there) and takes it on the drill', async () => {
    const { request, store } = approvalFixture();
    const { approval } = await request();
    await store.decide(approval.approvalId, RUN, decision({ approver: 'operator:root', channel: 'terminal' }));
    expect(await refusal(verifyRecordedDecision(store, RUN, allowList))).toContain('operator:root');
    await expect(verifyRecordedDecision(store, RUN, { ...allowList, operators: true })).resolves.toMatchObject({
      approver: 'operator:root',
    });
  });

  it('refuses a decision recorded after the deadline', async () => {
    const { request, store } = approvalFixture();
    const { approval } = await request();
    const late = new Date((approval.expiresAt + 1) * 1000).toISOString();
    await store.decide(approval.approvalId, RUN, decision({ decidedAt: late }));
    expect(await refusal(verifyRecordedDecision(store, RUN, allowList))).toContain('after the deadline');
  });

  it('matches email approvers case-insensitively, Slack ids exactly', async () => {
    const { request, store } = approvalFixture();
    const { approval } = await request();
    await store.decide(approval.approvalId, RUN, decision({ approver: 'slack:u0approver', channel: 'slack' }));
    expect(await refusal(verifyRecordedDecision(store, RUN, allowList))).toContain('slack:u0approver');
    const second = await request();
    await store.decide(
      second.approval.approvalId,
      RUN,
      decision({ approver: `email:${APPROVER.toUpperCase()}`, decidedAt: '2026-11-23T12:07:00.000Z' }),
    );
    await expect(verifyRecordedDecision(store, RUN, allowList)).resolves.toMatchObject({ approved: true });
  });
});
