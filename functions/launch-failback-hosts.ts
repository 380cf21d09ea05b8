import { awsFailbackDeps } from '../core/adapters/aws/failback-deps.js';
import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';

/** Lambda behind the LaunchFailbackHosts state: launches the failback hosts ahead of the cutover. */
export const handler = createTaskHandler('LaunchFailbackHosts', failbackTasks.LaunchFailbackHosts, awsFailbackDeps);
