import { awsFailbackDeps } from '../core/adapters/aws/failback-deps.js';
import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';

/** Lambda behind the VerifyFailback state: verifies the failback hosts and their volumes. */
export const handler = createTaskHandler('VerifyFailback', failbackTasks.VerifyFailback, awsFailbackDeps);
