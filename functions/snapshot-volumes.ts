import { awsFailbackDeps } from '../core/adapters/aws/failback-deps.js';
import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';

/** Lambda behind the SnapshotVolumes state: takes the crash-consistent snapshots that start a pass. */
export const handler = createTaskHandler('SnapshotVolumes', failbackTasks.SnapshotVolumes, awsFailbackDeps);
