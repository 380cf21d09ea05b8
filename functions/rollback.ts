import { awsFailbackDeps } from '../core/adapters/aws/failback-deps.js';
import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';

/** Lambda behind the Rollback state: restarts the takeover hosts and stops the failback hosts. */
export const handler = createTaskHandler('Rollback', failbackTasks.Rollback, awsFailbackDeps);
