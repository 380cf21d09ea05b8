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
 * (error `CutoverRejectedError`).
 */
export async function requestApproval(
  input: z.infer<typeof RequestApprovalInput>,
  deps: FailbackDeps,
): Promise<{ requested: true }> {
  await deps.approvals.requestApproval(input);
  return { requested: true };
}
