import { awsFailbackDeps } from '../core/adapters/aws/failback-deps.js';
import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';

/** Lambda behind the CheckApplied state: reports whether the sync gateway has made a pass durable on every target volume. */
export const handler = createTaskHandler('CheckApplied', failbackTasks.CheckApplied, awsFailbackDeps);
