import { describe, expect, it } from 'vitest';
import { requestEmail } from '../../core/approvals/email-channel.js';
import type { PendingApproval } from '../../core/approvals/record.js';
import { sendDueReminders } from '../../core/approvals/reminders.js';
import { reminderDue } from '../../core/approvals/request.js';
import { approvalFixture, TOKEN } from './fixture.js';

describe('approval reminders and timeouts', () => {
  it('are due the lead time before the deadline, but never in the first half of the window', () => {
    expect(reminderDue(1000, 1000 + 3600, 900)).toBe(1000 + 2700);
    expect(reminderDue(1000, 1000 + 600, 900)).toBe(1000 + 300);
  });

  it('remind each approval once when due, then close it as timed out at the deadline', async () => {
    const reminded: string[] = [];
    const closed: PendingApproval[] = [];
    const f = approvalFixture([
      {
        name: 'recording',
        remind: async (approval) => void reminded.push(approval.approvalId),
        decided: async (approval) => void closed.push(approval),
      },
    ]);
    const { approval } = await f.request(); // one hour, reminded 15 minutes before
    const sweep = () => sendDueReminders({ store: f.store, notifier: f.notifier, now: f.clock.now });

    expect(await sweep()).toEqual({ reminded: 0, timedOut: 0 });
    f.clock.advance(2700);
    expect(await sweep()).toEqual({ reminded: 1, timedOut: 0 });
    expect(await sweep()).toEqual({ reminded: 0, timedOut: 0 });
    f.clock.advance(900);
    expect(await sweep()).toEqual({ reminded: 0, timedOut: 1 });
    expect(await sweep()).toEqual({ reminded: 0, timedOut: 0 });

    expect(reminded).toEqual([approval.approvalId]);
    expect(closed.map((a) => a.decision?.outcome)).toEqual(['timed-out']);
    expect(f.store.auditTrail()).toEqual([
      expect.objectContaining({ outcome: 'timed-out', approver: 'nobody', channel: 'timeout' }),
    ]);
    expect(f.tasks.calls).toEqual([]); // the state machine's own timeout already rolled the run back
  });

  it("word the reminder email as one, carrying the approver's own link and no token", async () => {
    const { approval, link } = await approvalFixture().request();

    const email = requestEmail(approval, 'ops@example.com', link.href, true);

    expect(email.subject).toMatch(/^Reminder: approve the cutover of run run-2026-11-23 by 2026-11-23 13:00 UTC$/);
    expect(email.text).toContain(link.href);
    expect(email.html).toContain(`href="${link.href.replaceAll('&', '&#38;')}"`);
    expect(JSON.stringify(email)).not.toContain(TOKEN);
  });
});
