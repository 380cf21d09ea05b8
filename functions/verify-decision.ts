import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the VerifyDecision state: re-reads the cutover decision from the approval store (read-only). */
export const handler = createTaskHandler('VerifyDecision', failbackTasks.VerifyDecision, awsFailbackDepsOnce());
