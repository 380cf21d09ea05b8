import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the Cutover state: moves the target volumes to the failback hosts and starts them. */
export const handler = createTaskHandler('Cutover', failbackTasks.Cutover, awsFailbackDepsOnce());
