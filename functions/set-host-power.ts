import { awsFailbackDeps } from '../core/adapters/aws/failback-deps.js';
import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';

/** Lambda behind the SetHostPower state: starts or stops hosts. */
export const handler = createTaskHandler('SetHostPower', failbackTasks.SetHostPower, awsFailbackDeps);
