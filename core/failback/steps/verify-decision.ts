import { z } from 'zod';
import type { FailbackDeps, VerifiedDecision } from '../run-state.js';

/** Only the run id: what the approval task's SendTaskSuccess carried is deliberately not an input. */
export const VerifyDecisionInput = z.object({ runId: z.string() });

/**
 * Proves the cutover decision before anything stops: whoever can call SendTaskSuccess with the task token ends the
 * approval wait, but only a decision recorded by the decider (page, Slack, terminal) lets the run go on.
 * @throws UnverifiedApprovalError (the state machine rolls back as for a rejection)
 */
export async function verifyDecision(
  input: z.infer<typeof VerifyDecisionInput>,
  deps: FailbackDeps,
): Promise<VerifiedDecision> {
  return deps.approvals.verifyDecision(input.runId);
}
