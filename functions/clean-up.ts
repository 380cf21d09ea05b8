import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the CleanUp state: removes the gateway, temporary snapshots and staged segments. */
export const handler = createTaskHandler('CleanUp', failbackTasks.CleanUp, awsFailbackDepsOnce());
