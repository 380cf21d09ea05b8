import { describe, expect, it } from 'vitest';
import { estimateCutover, formatSeconds } from '../../core/approvals/estimate.js';
import { AWS_PROFILE } from '../../core/estimate/profile.js';
import { approvalFixture, approvalRequest, form, nonceOf, PAGE_URL, pageRequest, TOKEN } from './fixture.js';

describe('approval page', () => {
  it('shows run, hosts, volumes, last delta, estimates, approvers and deadline on GET, with a POST form', async () => {
    const { page, request } = approvalFixture();
    const { link } = await request();

    const response = await page.handle(pageRequest(link));

    expect(response.status).toBe(200);
    for (const fact of ['run-2026-11-23', 'i-0takeover', 'i-0failback', 'vol-0aaa', '8.0 GiB', '12.0 MiB in 42 s']) {
      expect(response.body).toContain(fact);
    }
    // The model of `homebound estimate`, anchored on the last pass (12 MiB in 42 s), on AWS's profile.
    const estimate = estimateCutover(approvalRequest().summary, AWS_PROFILE);
    expect(estimate.finalPassSeconds).toBeGreaterThan(0);
    expect(estimate.downtimeSeconds).toBeGreaterThan(estimate.finalPassSeconds + AWS_PROFILE.cutoverSeconds);
    expect(response.body).toContain(`about ${formatSeconds(estimate.finalPassSeconds)}`);
    expect(response.body).toContain(`about ${formatSeconds(estimate.downtimeSeconds)}, takeover stopped`);
    expect(response.body).toContain('ops@example.com, second@example.com, Slack U0APPROVER');
    expect(response.body).toContain('2026-11-23 13:00 UTC');
    expect(response.body).toMatch(/<form method="post">.*name="decision" value="approve"/);
    expect(response.body).not.toContain('<script');
    expect(response.headers['Cache-Control']).toBe('no-store');
    expect(response.headers['Referrer-Policy']).toBe('no-referrer');
  });

  it('says how old its figures are: when the last pass was applied, and how long ago at each visit', async () => {
    const { page, request, clock } = approvalFixture();
    const { link } = await request(undefined, {
      timeoutSeconds: 4 * 3600,
      summary: { ...approvalRequest().summary, lastPassStartedAt: '2026-11-23T11:49:18.000Z', lastPassSeconds: 42 },
    });

    const first = (await page.handle(pageRequest(link))).body;
    clock.advance(35 * 60);
    const later = (await page.handle(pageRequest(link))).body;
    clock.advance(45 * 60);
    const muchLater = (await page.handle(pageRequest(link))).body;

    expect(first).toContain('figures from 10 minutes ago (the last pass, applied 2026-11-23 11:50 UTC)');
    expect(later).toContain('figures from 45 minutes ago');
    expect(muchLater).toContain('figures from 1 h 30 min ago');
    expect(first).toContain('catch-up passes run after approval');
  });

  it('leaves the approval pending after any number of GET and HEAD requests', async () => {
    const { page, request, store, tasks } = approvalFixture();
    const { link } = await request();
    const before = store.snapshot();

    const responses = [];
    for (let i = 0; i < 5; i++) {
      responses.push(await page.handle(pageRequest(link, 'GET')), await page.handle(pageRequest(link, 'HEAD')));
    }

    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(responses.filter((_, i) => i % 2 === 1).map((r) => r.body)).toEqual(Array(5).fill(''));
    expect(store.snapshot()).toEqual(before);
    expect(store.snapshot()[0]?.status).toBe('PENDING');
    expect(tasks.calls).toEqual([]);
  });

  it('approves on POST with the nonce: conditional update, audit, then SendTaskSuccess once', async () => {
    const { page, request, store, tasks } = approvalFixture();
    const { link, approval } = await request();
    const nonce = nonceOf((await page.handle(pageRequest(link))).body);

    const response = await page.handle(pageRequest(link, 'POST', form('approve', nonce)));

    expect(response.status).toBe(200);
    expect(response.body).toContain('Cutover approved');
    expect(store.snapshot()[0]).toMatchObject({ status: 'DECIDED', decision: { outcome: 'approved' } });
    expect(store.auditTrail()).toEqual([
      expect.objectContaining({
        runId: 'run-2026-11-23',
        approvalId: approval.approvalId,
        outcome: 'approved',
        approver: 'email:ops@example.com',
        channel: 'page',
        origin: { sourceIp: '198.51.100.7', userAgent: 'vitest' },
      }),
    ]);
    expect(tasks.calls).toEqual([
      {
        kind: 'success',
        taskToken: TOKEN,
        detail: { approved: true, approver: 'email:ops@example.com', decidedAt: '2026-11-23T12:00:00.000Z' },
      },
    ]);
  });

  it('rejects on POST: SendTaskFailure with CutoverRejectedError', async () => {
    const { page, request, tasks } = approvalFixture();
    const { link } = await request();
    const nonce = nonceOf((await page.handle(pageRequest(link))).body);

    const response = await page.handle(pageRequest(link, 'POST', form('reject', nonce)));

    expect(response.body).toContain('Cutover rejected');
    expect(tasks.calls).toEqual([
      {
        kind: 'failure',
        taskToken: TOKEN,
        detail: { error: 'CutoverRejectedError', cause: 'by email:ops@example.com via page' },
      },
    ]);
  });

  describe('refuses, changing nothing', () => {
    async function refused(
      act: (
        f: ReturnType<typeof approvalFixture>,
        link: URL,
        nonce: string,
      ) => Promise<URL | undefined> | URL | undefined,
      method: 'GET' | 'POST',
      expected: { status: number; refusal: string },
    ) {
      const fixture = approvalFixture();
      const { link } = await fixture.request();
      const nonce = nonceOf((await fixture.page.handle(pageRequest(link))).body);
      const target = (await act(fixture, link, nonce)) ?? link;
      const before = fixture.store.snapshot();
      const calls = fixture.tasks.calls.length;
      const audits = fixture.store.auditTrail().length;

      const response = await fixture.page.handle(pageRequest(target, method, form('approve', nonce)));

      expect(response.status).toBe(expected.status);
      expect(response.body).toContain(`data-refused="${expected.refusal}"`);
      expect(response.body).toContain('Nothing was changed');
      expect(fixture.store.snapshot()).toEqual(before);
      expect(fixture.tasks.calls).toHaveLength(calls);
      expect(fixture.store.auditTrail()).toHaveLength(audits);
      return response;
    }
    const tamper = (link: URL, name: string, value: string) => {
      const copy = new URL(link);
      copy.searchParams.set(name, value);
      return copy;
    };

    it('a forged signature', async () => {
      for (const method of ['GET', 'POST'] as const) {
        // Another first character (a signature starting with "A" would otherwise be left as it was, 1 run in 64).
        const forge = (sig = '') => `${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`;
        await refused((_, link) => tamper(link, 'sig', forge(link.searchParams.get('sig') ?? '')), method, {
          status: 403,
          refusal: 'ApprovalLinkForgedError',
        });
      }
    });

    it('a link whose expiry or approver was changed', async () => {
      await refused((_, link) => tamper(link, 'exp', String(Number(link.searchParams.get('exp')) + 3600)), 'POST', {
        status: 403,
        refusal: 'ApprovalLinkForgedError',
      });
      await refused((_, link) => tamper(link, 'a', 'email:intruder@example.com'), 'GET', {
        status: 403,
        refusal: 'ApprovalLinkForgedError',
      });
    });

    it('an expired link', async () => {
      for (const method of ['GET', 'POST'] as const) {
        await refused((f) => void f.clock.advance(3600), method, { status: 410, refusal: 'ApprovalLinkExpiredError' });
      }
    });

    it('a replayed POST (the nonce that already decided)', async () => {
      const response = await refused(
        async (f, link, nonce) => {
          await f.page.handle(pageRequest(link, 'POST', form('approve', nonce)));
          return undefined;
        },
        'POST',
        { status: 409, refusal: 'ApprovalReplayedError' },
      );
      expect(response.body).toContain('was approved by email:ops@example.com');
    });

    it('a second decision (another nonce, after the first decided)', async () => {
      await refused(
        async (f, link) => {
          const other = nonceOf((await f.page.handle(pageRequest(link))).body);
          await f.page.handle(pageRequest(link, 'POST', form('reject', other)));
          return undefined;
        },
        'POST',
        { status: 409, refusal: 'ApprovalAlreadyDecidedError' },
      );
    });

    it('a nonce that this page did not issue, or issued for another link', async () => {
      const fixture = approvalFixture();
      const { link } = await fixture.request();
      const { link: otherLink } = await fixture.request('second@example.com');
      const foreign = nonceOf((await fixture.page.handle(pageRequest(otherLink))).body);
      const before = fixture.store.snapshot();
      for (const nonce of ['guess', '', foreign, `${foreign.split('.')[0]}.${'A'.repeat(43)}`]) {
        const response = await fixture.page.handle(pageRequest(link, 'POST', form('approve', nonce)));
        expect(response.status, nonce).toBe(403);
        expect(response.body).toContain('data-refused="ApprovalNonceInvalidError"');
      }
      expect(fixture.store.snapshot()).toEqual(before);
      expect(fixture.tasks.calls).toEqual([]);
    });

    it('a correctly signed link for someone not on the allow-list', async () => {
      const fixture = approvalFixture();
      const { approval } = await fixture.request();
      const stranger = new URL(
        fixture.signer.url(PAGE_URL, {
          approvalId: approval.approvalId,
          approver: 'email:stranger@example.com',
          expiresAt: approval.expiresAt,
        }),
      );
      const before = fixture.store.snapshot();
      for (const method of ['GET', 'POST']) {
        const response = await fixture.page.handle(pageRequest(stranger, method, form('approve', 'x.y')));
        expect(response.status).toBe(403);
        expect(response.body).toContain('data-refused="ApproverNotAllowedError"');
      }
      expect(fixture.store.snapshot()).toEqual(before);
      expect(fixture.tasks.calls).toEqual([]);
    });

    it('a decision that reaches a run no longer waiting says so', async () => {
      const fixture = approvalFixture();
      const { link } = await fixture.request();
      const nonce = nonceOf((await fixture.page.handle(pageRequest(link))).body);
      fixture.tasks.gone = true;

      const response = await fixture.page.handle(pageRequest(link, 'POST', form('approve', nonce)));

      expect(response.status).toBe(410);
      expect(response.body).toContain('no longer waiting');
    });
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    const { page, request } = approvalFixture();
    const { link } = await request();
    expect((await page.handle(pageRequest(new URL('https://x/other'), 'GET'))).status).toBe(404);
    const put = await page.handle(pageRequest(link, 'PUT'));
    expect(put.status).toBe(405);
    expect(put.headers.Allow).toBe('GET, HEAD, POST');
  });
});
