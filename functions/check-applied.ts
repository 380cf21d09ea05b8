import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the CheckApplied state: reports whether the sync gateway has made a pass durable on every target volume. */
export const handler = createTaskHandler('CheckApplied', failbackTasks.CheckApplied, awsFailbackDepsOnce());
