import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the RetireTakeoverHosts state: keeps the takeover hosts stopped and tags them as replaced. */
export const handler = createTaskHandler(
  'RetireTakeoverHosts',
  failbackTasks.RetireTakeoverHosts,
  awsFailbackDepsOnce(),
);
