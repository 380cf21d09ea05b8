import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the CheckHosts state: reports whether hosts reached a state. */
export const handler = createTaskHandler('CheckHosts', failbackTasks.CheckHosts, awsFailbackDepsOnce());
