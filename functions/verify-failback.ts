import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the VerifyFailback state: verifies the failback hosts and their volumes. */
export const handler = createTaskHandler('VerifyFailback', failbackTasks.VerifyFailback, awsFailbackDepsOnce());
