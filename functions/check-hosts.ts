import { awsFailbackDeps } from '../core/adapters/aws/failback-deps.js';
import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';

/** Lambda behind the CheckHosts state: reports whether hosts reached a state. */
export const handler = createTaskHandler('CheckHosts', failbackTasks.CheckHosts, awsFailbackDeps);
