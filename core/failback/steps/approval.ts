import { z } from 'zod';
import { ApprovalSummary, type FailbackDeps } from '../run-state.js';

export const RequestApprovalInput = z.object({
  runId: z.string(),
  taskToken: z.string().min(1).max(2048),
  timeoutSeconds: z.number().int().positive(),
  summary: ApprovalSummary,
});

/**
 * Asks for the cutover decision and returns at once. The task token goes to the approval port and nowhere else
 * (never into a log, a link or the result); the decision completes it with SendTaskSuccess or SendTaskFailure
 * (error `CutoverRejectedError`). ApprovalsPending goes to 1 for the run; the next snapshot set (after an approval)
 * or the rollback (after a rejection or the timeout) sets it back to 0.
 */
export async function requestApproval(
  input: z.infer<typeof RequestApprovalInput>,
  deps: FailbackDeps,
): Promise<{ requested: true }> {
  await deps.approvals.requestApproval(input);
  deps.metrics.runEvent(input.runId, { ApprovalsPending: 1 });
  return { requested: true };
}
