/**
 * At most `size` probes in flight per process; the rest wait in arrival order. Shards hand their checks over at
 * their due times, so the queue only grows when the probes themselves are slower than the schedule, and that
 * shows up as lag (and as `late` skips), never as unbounded sockets.
 */
export class ProbeSlots {
  private inUse = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  /** Resolves when a slot is free; call release() exactly once afterwards. */
  acquire(): Promise<void> {
    if (this.inUse < this.size) {
      this.inUse++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter, so inUse stays the same.
    if (next) next();
    else this.inUse--;
  }

  get queued(): number {
    return this.waiting.length;
  }
}
