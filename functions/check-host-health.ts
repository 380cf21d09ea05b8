import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the CheckHostHealth states: runs one round of a wave's health checks. */
export const handler = createTaskHandler('CheckHostHealth', failbackTasks.CheckHostHealth, awsFailbackDepsOnce());
