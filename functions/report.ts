import { awsFailbackDeps } from '../core/adapters/aws/failback-deps.js';
import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';

/** Lambda behind the Report state: writes the run report. */
export const handler = createTaskHandler('Report', failbackTasks.Report, awsFailbackDeps);
