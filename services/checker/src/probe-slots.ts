/**
 * At most `size` probes in flight per process; the rest wait in arrival order. Shards hand their checks over at
 * their due times, so the queue only grows when the probes themselves are slower than the schedule, and that
 * shows up as lag (and as `late` skips), never as unbounded sockets.
 */
export class ProbeSlots {
  private inUse = 0;
  /** Waiters from `head` on; a plain shift() would copy the whole queue on every release of an overloaded process. */
  private waiting: Array<() => void> = [];
  private head = 0;

  constructor(private readonly size: number) {}

  /** Probes waiting for a slot: the process is behind its schedule. */
  get behind(): boolean {
    return this.head < this.waiting.length;
  }

  /** Resolves when a slot is free; call release() exactly once afterwards. */
  acquire(): Promise<void> {
    if (this.inUse < this.size) {
      this.inUse++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    if (this.head === this.waiting.length) {
      this.inUse--;
      return;
    }
    const next = this.waiting[this.head++];
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    // The slot passes straight to the next waiter, so inUse stays the same.
    next();
  }
}
