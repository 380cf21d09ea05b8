import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the LaunchFailbackHosts state: launches the failback hosts ahead of the cutover. */
export const handler = createTaskHandler(
  'LaunchFailbackHosts',
  failbackTasks.LaunchFailbackHosts,
  awsFailbackDepsOnce(),
);
