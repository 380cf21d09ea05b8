import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

/** Lambda behind the SnapshotVolumes state: takes the crash-consistent snapshots that start a pass. */
export const handler = createTaskHandler('SnapshotVolumes', failbackTasks.SnapshotVolumes, awsFailbackDepsOnce());
