/** A FIFO counting semaphore: permits are granted in the order they were asked for. */
export class Semaphore {
  private available: number;
  private readonly queue: { count: number; resolve: () => void }[] = [];

  constructor(permits: number) {
    if (!(permits >= 1)) throw new RangeError('a semaphore needs at least one permit');
    this.available = permits;
  }

  async acquire(count = 1): Promise<void> {
    if (this.queue.length === 0 && this.available >= count) {
      this.available -= count;
      return;
    }
    await new Promise<void>((resolve) => this.queue.push({ count, resolve }));
  }

  release(count = 1): void {
    this.available += count;
    for (let head = this.queue[0]; head && this.available >= head.count; head = this.queue[0]) {
      this.queue.shift();
      this.available -= head.count;
      head.resolve();
    }
  }
}
