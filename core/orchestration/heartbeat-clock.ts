import { TaskFailedError } from './errors.js';

/**
 * One task's HeartbeatSeconds window: started when the task is in a worker's hands, restarted by each heartbeat,
 * `onExpire` called once a whole window passes without one. Without a window (undefined) it never expires.
 * Its timer is unref'd: the execution holds its own timers, and a forgotten task must not keep the process alive.
 */
export class HeartbeatClock {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly windowMs: number | undefined,
    private readonly onExpire: () => void,
  ) {}

  /** Starts the first window (a worker took the task, or a callback task started). */
  start(): void {
    if (this.windowMs === undefined) return;
    this.running = true;
    this.arm();
  }

  /** A heartbeat: restarts the window if the clock runs; before start it means nothing. */
  beat(): void {
    if (this.running) this.arm();
  }

  /** The task completed or was withdrawn. */
  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = false;
      this.onExpire();
    }, this.windowMs);
    this.timer.unref();
  }
}

/** The failure of a task that missed a heartbeat; Retry and Catch match `States.HeartbeatTimeout`. */
export function heartbeatTimeoutError(windowMs: number | undefined): TaskFailedError {
  return new TaskFailedError(
    'States.HeartbeatTimeout',
    `no heartbeat within HeartbeatSeconds (${windowMs === undefined ? '-' : windowMs / 1000} s)`,
  );
}
