import { createTaskHandler } from '../core/failback/task-handler.js';
import { failbackTasks } from '../core/failback/tasks.js';
import { tuneHeapForStreaming } from '../core/heap-tuning.js';
import { awsFailbackDepsOnce } from '../core/wiring/aws.js';

tuneHeapForStreaming();

/** Lambda behind the StreamPass state: plans and streams one volume's pass into staging, returning a cursor when time runs out. */
export const handler = createTaskHandler('StreamPass', failbackTasks.StreamPass, awsFailbackDepsOnce());
