import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the Report state: writes the run report. */
export const handler = createTaskHandler('Report', failbackTasks.Report, awsFailbackDepsOnce());
