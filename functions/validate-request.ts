import { awsFailbackDeps } from '../core/adapters/aws/failback-deps.js';
import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';

/** Lambda behind the ValidateRequest state: checks the failback request and discovers the takeover hosts; creates nothing. */
export const handler = createTaskHandler('ValidateRequest', failbackTasks.ValidateRequest, awsFailbackDeps);
