import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the CheckSnapshots state: reports whether a pass's snapshots are completed. */
export const handler = createTaskHandler('CheckSnapshots', failbackTasks.CheckSnapshots, awsFailbackDepsOnce());
