import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the ValidateRequest state: checks the failback request and discovers the takeover hosts; creates nothing. */
export const handler = createTaskHandler('ValidateRequest', failbackTasks.ValidateRequest, awsFailbackDepsOnce());
