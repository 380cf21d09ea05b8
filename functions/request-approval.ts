import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the RequestApproval state: sends the cutover approval request (the task token stays server-side). */
export const handler = createTaskHandler('RequestApproval', failbackTasks.RequestApproval, awsFailbackDepsOnce());
