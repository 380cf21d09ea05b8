import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the SetHostPower state: starts or stops hosts. */
export const handler = createTaskHandler('SetHostPower', failbackTasks.SetHostPower, awsFailbackDepsOnce());
