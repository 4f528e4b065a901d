import type { Queue } from 'bullmq';
import { RESULT_BATCH_JOB, type CheckResult, type ResultBatch } from '@portal-failover/shared';

export interface ResultBatcherOptions {
  /** Unique per process (vantage, host, pid, random): batch ids are `<idPrefix>.<n>`. */
  idPrefix: string;
  /** A batch leaves at the latest this long after its first result, ms. */
  flushEvery: number;
  /** ... or as soon as it holds this many results. */
  maxBatch: number;
  /** Results kept for another attempt while Redis refuses them; beyond this the oldest are dropped. */
  maxPending: number;
  /** Told how many results were dropped and why (stale: older than two intervals; overflow: over maxPending). */
  onDropped: (count: number, reason: 'stale' | 'overflow', err?: Error) => void;
  now: () => number;
}

interface Batch {
  id: string;
  results: CheckResult[];
}

/** A refused add may still have reached Redis; the same batch id is ignored this long (ms) after the first add. */
const DEDUP_TTL = 60_000;

/**
 * Collects the results of one checker process and sends them as one results-queue job per flush window. Each
 * result is in exactly one batch. A batch Redis refused is retried under the same id (BullMQ deduplication), so an
 * add that failed on the wire but reached Redis is not delivered twice; results whose interval has passed twice
 * by then are dropped (newer probes are due, and an old result would only look like fresh news to the controller).
 */
export class ResultBatcher {
  private pending: CheckResult[] = [];
  private unsent: Batch[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly queue: Queue<ResultBatch>,
    private readonly opts: ResultBatcherOptions,
  ) {}

  add(result: CheckResult): void {
    this.pending.push(result);
    this.flushSoon(this.pending.length >= this.opts.maxBatch ? 0 : this.opts.flushEvery);
  }

  /** Sends what is pending now; resolves when this and every earlier send has finished (sent or kept for retry). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sending = this.sending.then(() => this.sendAll());
    return this.sending;
  }

  /** Results not yet accepted by Redis. */
  get backlog(): number {
    return this.pending.length + this.unsent.reduce((n, b) => n + b.results.length, 0);
  }

  private flushSoon(delay: number): void {
    if (this.timer && delay > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), delay);
  }

  private async sendAll(): Promise<void> {
    while (this.pending.length > 0) {
      const results = this.pending.splice(0, this.opts.maxBatch);
      this.unsent.push({ id: `${this.opts.idPrefix}.${++this.seq}`, results });
    }
    this.dropStale();
    while (this.unsent.length > 0) {
      const batch = this.unsent[0];
      try {
        await this.queue.add(
          RESULT_BATCH_JOB,
          { results: batch.results },
          { deduplication: { id: batch.id, ttl: DEDUP_TTL }, removeOnComplete: { count: 0 }, removeOnFail: { count: 1000 } },
        );
      } catch (err) {
        this.dropOverflow(err as Error);
        this.flushSoon(Math.max(this.opts.flushEvery, 500));
        return;
      }
      this.unsent.shift();
    }
  }

  private dropStale(): void {
    const now = this.opts.now();
    let dropped = 0;
    for (const b of this.unsent) {
      const fresh = b.results.filter((r) => now - r.at <= 2 * r.intervalMs);
      dropped += b.results.length - fresh.length;
      b.results = fresh;
    }
    this.unsent = this.unsent.filter((b) => b.results.length > 0);
    if (dropped > 0) this.opts.onDropped(dropped, 'stale');
  }

  private dropOverflow(err: Error): void {
    let over = this.backlog - this.opts.maxPending;
    if (over <= 0) return;
    const dropped = over;
    while (over > 0 && this.unsent.length > 0) {
      const b = this.unsent[0];
      const cut = Math.min(over, b.results.length);
      b.results = b.results.slice(cut);
      over -= cut;
      if (b.results.length === 0) this.unsent.shift();
    }
    this.opts.onDropped(dropped, 'overflow', err);
  }
}
