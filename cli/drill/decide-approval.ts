import { createInterface } from 'node:readline';
import type { LocalFailback } from '../../core/wiring/local.js';
import { serveApprovals } from './approval-page.js';
import type { DrillOptions } from './drill-options.js';

/**
 * Answers the approval request as the options say. Asking a person serves the approval page on localhost (the same
 * handler as on AWS) and prints `Approval page: <url>` on its own line; the terminal can decide too. `cancel` closes
 * the prompt and the page.
 */
export async function decideApproval(
  env: LocalFailback,
  options: DrillOptions,
  say: (line: string) => void,
): Promise<{ cancel(): Promise<void> }> {
  const asks = options.approval === 'ask' || options.approval === 'page';
  const served = asks ? await serveApprovals(env.approvals.page) : undefined;
  if (served) env.approvals.setPageUrl(served.url);
  let prompt: ReturnType<typeof createInterface> | undefined;
  let cancelled = false;
  void env.approvals.next().then(async (request) => {
    if (cancelled) return;
    if (options.approval === 'auto-approve') {
      await env.approvals.approve(request.runId, 'homebound drill --auto-approve');
      say('  approved (--auto-approve)');
      return;
    }
    if (options.approval === 'reject') {
      await env.approvals.reject(
        request.runId,
        'homebound drill --reject',
        'cutover rejected to rehearse the rollback',
      );
      say('  rejected (--reject)');
      return;
    }
    if (options.approval === 'page') {
      say('  the cutover waits for a decision on the approval page');
      say(`Approval page: ${request.url}`);
      return;
    }
    say('  the cutover waits for a decision: open the approval page, or type "approve" or "reject" here');
    say(`Approval page: ${request.url}`);
    prompt = createInterface({ input: process.stdin, output: process.stderr });
    // On a terminal readline takes Ctrl-C for itself (it would only pause): hand it on as the drill's interrupt.
    prompt.on('SIGINT', () => process.kill(process.pid, 'SIGINT'));
    const ask = () =>
      prompt?.question('  decision> ', (answer) => {
        const decision = answer.trim().toLowerCase();
        if (decision !== 'approve' && decision !== 'reject') return ask();
        const operator = `terminal (${process.env.USER ?? 'operator'})`;
        void (
          decision === 'approve'
            ? env.approvals.approve(request.runId, operator)
            : env.approvals.reject(request.runId, operator, 'cutover rejected by the operator')
        ).then((taken) => {
          say(taken ? `  ${decision}d from the terminal` : '  already decided (or no longer waiting)');
          prompt?.close();
        });
      });
    ask();
  });
  return {
    cancel: async () => {
      cancelled = true;
      prompt?.close();
      await served?.close();
    },
  };
}
