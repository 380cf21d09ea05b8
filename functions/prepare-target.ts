import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the PrepareTarget state: creates the target volumes and the sync gateway. */
export const handler = createTaskHandler('PrepareTarget', failbackTasks.PrepareTarget, awsFailbackDepsOnce());
