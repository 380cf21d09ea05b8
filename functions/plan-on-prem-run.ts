import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the PlanOnPremRun state: plans the on-prem side of a conditional-automated run. */
export const handler = createTaskHandler('PlanOnPremRun', failbackTasks.PlanOnPremRun, awsFailbackDepsOnce());
