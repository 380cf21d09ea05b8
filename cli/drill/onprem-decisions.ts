import type { LocalApprovals } from '../../core/failback/local-approvals.js';
import type { DrillApproval } from './fail-at.js';

/** The approval id of the manual platform's second wait: "confirm the failback hosts are up" (the ASL names it). */
export const HOSTS_UP_SUFFIX = '-hosts-up';

/**
 * Answers the on-prem drill's approval waits: the cutover decision as `approval` says (auto-approve, reject; the
 * terminal and page modes are left to decideApproval), and — the manual platform — the operator's confirmation that
 * the hosts are up, given at once with --auto-approve, otherwise printed as a page link for a person.
 */
export function decideOnPremWaits(
  approvals: LocalApprovals,
  approval: DrillApproval,
  say: (line: string) => void,
): { cancel(): void } {
  let cancelled = false;
  const handled = new Set<string>();
  const loop = async () => {
    while (!cancelled) {
      const request = await approvals.next();
      if (cancelled) return;
      if (handled.has(request.approvalId)) {
        // Still open (a person decides on the page): look again shortly.
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      handled.add(request.approvalId);
      const confirmation = request.runId.endsWith(HOSTS_UP_SUFFIX);
      if (confirmation && approval === 'auto-approve') {
        await approvals.approve(request.runId, 'homebound drill --auto-approve');
        say('  failback hosts confirmed up (--auto-approve)');
      } else if (confirmation) {
        say('  the run waits for a person to confirm the failback hosts are up');
        say(`Confirmation page: ${request.url}`);
      } else if (approval === 'auto-approve') {
        await approvals.approve(request.runId, 'homebound drill --auto-approve');
        say('  approved (--auto-approve)');
      } else if (approval === 'reject') {
        await approvals.reject(request.runId, 'homebound drill --reject', 'cutover rejected to rehearse the rollback');
        say('  rejected (--reject)');
      }
    }
  };
  void loop();
  return {
    cancel: () => {
      cancelled = true;
    },
  };
}
