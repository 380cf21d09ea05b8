import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the Rollback state: restarts the takeover hosts and stops the failback hosts. */
export const handler = createTaskHandler('Rollback', failbackTasks.Rollback, awsFailbackDepsOnce());
