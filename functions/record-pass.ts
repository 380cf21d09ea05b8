import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the RecordPass state: records an applied pass and decides convergence. */
export const handler = createTaskHandler('RecordPass', failbackTasks.RecordPass, awsFailbackDepsOnce());
