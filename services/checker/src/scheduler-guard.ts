import type { Queue } from 'bullmq';
import type { EventEmitter } from 'node:events';
import type { Logger } from '@portal-failover/shared';

/** One BullMQ job scheduler the config asks for: its id, how often it fires, and the job it creates. */
export interface WantedScheduler {
  id: string;
  everyMs: number;
  /** Where in the interval it fires (BullMQ's `offset`), ms; 0 or absent: BullMQ's default. */
  offsetMs?: number;
  data: Record<string, string | number>;
}

export interface SchedulerGuardOptions {
  queue: Queue;
  /** The Redis connection the queue uses, when the caller owns it: its 'ready' (every reconnect) triggers a pass. */
  connection?: EventEmitter;
  wanted: WantedScheduler[];
  logger: Logger;
  /** Called with the number of schedulers recreated by one pass (failover_checker_schedulers_recreated_total). */
  onRecreated: (count: number) => void;
  /** Told which schedulers a repair recreated, e.g. to run their current slot now instead of at the next one. */
  afterRecreate?: (ids: string[]) => Promise<void>;
  now?: () => number;
  /** A full comparison (not only the count) at least this often. Default 30 s. */
  fullPassEvery?: number;
}

/**
 * Keeps the queue's job schedulers equal to the config, for good. Schedulers live in Redis only: a Redis that
 * restarts empty, a Sentinel promotion that lost writes, or a FLUSHALL takes them away, and without a scheduler no
 * probe ever runs again. So the guard looks at least once per shortest check interval (a cheap ZCARD) and on every
 * Redis reconnect (a full comparison), and recreates whatever is missing. A scheduler whose next run is far in the
 * past lost its delayed job (partial loss) and is recreated too.
 *
 * Concurrency: one pass at a time; a tick that finds a pass running is skipped. Several checker processes of the
 * same vantage may recreate the same scheduler at once: upsertJobScheduler is idempotent for the same id.
 */
export class SchedulerGuard {
  private readonly wanted: Map<string, WantedScheduler>;
  private readonly now: () => number;
  private readonly fullPassEvery: number;
  private readonly shortestMs: number;
  private timer: NodeJS.Timeout | undefined;
  private passing: Promise<void> | undefined;
  private lastFullPass = Number.NEGATIVE_INFINITY;
  private fullPassDue = true;
  private readonly onReady = () => {
    this.fullPassDue = true;
    void this.tick();
  };

  constructor(private readonly opts: SchedulerGuardOptions) {
    this.wanted = new Map(opts.wanted.map((w) => [w.id, w]));
    this.now = opts.now ?? Date.now;
    this.fullPassEvery = opts.fullPassEvery ?? 30_000;
    this.shortestMs = Math.min(...opts.wanted.map((w) => w.everyMs), this.fullPassEvery);
  }

  /** Makes the schedulers match the config now (throws when Redis cannot be reached), then keeps watching. */
  async start(): Promise<void> {
    await this.pass(true);
    // 'ready' fires after every successful (re)connect, also to a newly promoted master behind Sentinel.
    this.opts.connection?.on('ready', this.onReady);
    this.timer = setInterval(() => void this.tick(), this.shortestMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.opts.connection?.off('ready', this.onReady);
  }

  /** One verification (used by the timer, the reconnect handler and tests); never throws. */
  async tick(): Promise<void> {
    if (this.passing) return this.passing;
    const full = this.fullPassDue || this.now() - this.lastFullPass >= this.fullPassEvery;
    this.passing = this.pass(full)
      .catch((err: Error) => {
        // Redis is away: try the full comparison again as soon as it answers.
        this.fullPassDue = true;
        this.opts.logger.debug(`cannot verify job schedulers: ${err.message}`);
      })
      .finally(() => (this.passing = undefined));
    return this.passing;
  }

  /**
   * Replaces the wanted schedulers whose id `inGroup` selects with `next` (a risk window's probeInterval starts or
   * ends) and writes the change at once. Runs between passes, so a pass never mistakes it for a loss by Redis.
   */
  async replaceGroup(inGroup: (id: string) => boolean, next: WantedScheduler[]): Promise<void> {
    while (this.passing) await this.passing;
    const run = (async () => {
      const nextIds = new Set(next.map((w) => w.id));
      for (const id of [...this.wanted.keys()]) {
        if (!inGroup(id) || nextIds.has(id)) continue;
        this.wanted.delete(id);
        await this.opts.queue.removeJobScheduler(id);
      }
      for (const w of next) {
        const had = this.wanted.get(w.id);
        this.wanted.set(w.id, w);
        if (!had || had.everyMs !== w.everyMs || had.offsetMs !== w.offsetMs) await this.upsert(w);
      }
    })();
    this.passing = run
      .catch((err: Error) => {
        // The next full pass writes whatever did not make it (the wanted set is already the new one).
        this.fullPassDue = true;
        this.opts.logger.warn(`cannot change probe intervals yet: ${err.message}`);
      })
      .finally(() => (this.passing = undefined));
    return this.passing;
  }

  private upsert(w: WantedScheduler): Promise<unknown> {
    return this.opts.queue.upsertJobScheduler(
      w.id,
      { every: w.everyMs, ...(w.offsetMs ? { offset: w.offsetMs } : {}) },
      { name: 'probe', data: w.data, opts: { removeOnComplete: { count: 0 }, removeOnFail: { count: 100 } } },
    );
  }

  private async pass(full: boolean): Promise<void> {
    const q = this.opts.queue;
    if (!full) {
      // Cheap check between full passes: the count is what a wipe or a partial loss changes.
      const count = await q.getJobSchedulersCount();
      if (count === this.wanted.size) return;
    }
    const existing = await q.getJobSchedulers(0, -1);
    const byId = new Map(existing.filter((s) => s.key).map((s) => [s.key, s]));
    const now = this.now();
    const recreate: WantedScheduler[] = [];
    for (const w of this.wanted.values()) {
      const s = byId.get(w.id);
      // next far in the past while it should have fired three times since: its delayed job is gone.
      const moved = (w.offsetMs ?? 0) > 0 && s?.offset !== w.offsetMs;
      const lost = s === undefined || s.every !== w.everyMs || moved || (s.next !== undefined && now - s.next > 3 * w.everyMs + 1_000);
      if (lost) recreate.push(w);
    }
    for (const w of recreate) await this.upsert(w);
    for (const s of existing) {
      if (s.key && !this.wanted.has(s.key)) {
        await q.removeJobScheduler(s.key);
        this.opts.logger.info(`removed scheduler ${s.key}: no longer in the config`);
      }
    }
    // The first pass creates them all (start, or a new queue): that is setup, not repair.
    const isSetup = this.lastFullPass === Number.NEGATIVE_INFINITY;
    this.lastFullPass = now;
    this.fullPassDue = false;
    if (recreate.length && !isSetup) {
      this.opts.onRecreated(recreate.length);
      await this.opts.afterRecreate?.(recreate.map((w) => w.id));
      this.opts.logger.warn(`recreated ${recreate.length} missing job scheduler(s) (${recreate.slice(0, 5).map((w) => w.id).join(', ')}${recreate.length > 5 ? ', ...' : ''}); Redis lost them`);
    }
  }
}
