import { awsFailbackDeps } from '../core/adapters/aws/failback-deps.js';
import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';

/** Lambda behind the CheckSnapshots state: reports whether a pass's snapshots are completed. */
export const handler = createTaskHandler('CheckSnapshots', failbackTasks.CheckSnapshots, awsFailbackDeps);
