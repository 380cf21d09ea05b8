import { createApprovalRemindersHandler } from '../core/adapters/aws/approval-handlers.js';

/** Lambda run every few minutes: reminds approvers before the deadline and closes timed-out approvals. */
export const handler = createApprovalRemindersHandler();
