import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Gauge } from 'prom-client';
import { keys, RESULTS_QUEUE } from './keys';
import { RateLimitedLog, type Logger } from './logger';
import type { Metrics } from './metrics';

/** The job states exported as failover_queue_jobs{state}, in BullMQ's names. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized', 'waiting-children'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

export interface DeploymentQueuesOptions {
  /** A command connection (fail fast, no keyPrefix). Every queue handle shares it; it is never closed here. */
  connection: Redis;
  /** config.redis.prefix: BullMQ's prefix (keys(prefix).bull). */
  prefix: string;
  logger: Logger;
  now?: () => number;
  /** A finished discovery is reused this long before the keyspace is scanned again. Default 30 s. */
  rediscoverEvery?: number;
  /** SCAN calls (COUNT 1000 each) one discovery step may make; a larger keyspace is walked over several calls. Default 20. */
  scanCallsPerStep?: number;
  /** At most this many checks-* queues are tracked. Default 256. */
  maxQueues?: number;
}

/** Redis glob metacharacters in a literal part of a SCAN MATCH pattern. */
function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * The BullMQ queues of one deployment: `results` and every `checks-<vantage>` queue that exists in Redis under the
 * prefix. Checkers choose their vantage at start (config or environment), so the API cannot know them from its
 * own config: they are discovered by SCAN for BullMQ's `<prefix>:checks-*:meta` hash, which a queue has once a job
 * or a job scheduler was added to it. Discovery is bounded per call (scanCallsPerStep) and cached (rediscoverEvery),
 * so a scrape or a page view never walks a large keyspace at once. Queue handles are created on first use.
 */
export class DeploymentQueues {
  private readonly handles = new Map<string, Queue>();
  private readonly connection: Redis;
  private readonly bullPrefix: string;
  private readonly warn: RateLimitedLog;
  private readonly now: () => number;
  private readonly rediscoverEvery: number;
  private readonly scanCallsPerStep: number;
  private readonly maxQueues: number;
  /** checks-* queues found by the last complete pass (plus those found so far by an unfinished one), sorted. */
  private known: string[] = [];
  /** A pass over the keyspace in progress. */
  private pass: { cursor: string; found: Set<string> } | undefined;
  private lastPassAt = Number.NEGATIVE_INFINITY;
  private discovering: Promise<void> | undefined;
  private closed = false;

  constructor(opts: DeploymentQueuesOptions) {
    this.connection = opts.connection;
    this.bullPrefix = keys(opts.prefix).bull;
    this.warn = new RateLimitedLog(opts.logger);
    this.now = opts.now ?? Date.now;
    this.rediscoverEvery = opts.rediscoverEvery ?? 30_000;
    this.scanCallsPerStep = opts.scanCallsPerStep ?? 20;
    this.maxQueues = opts.maxQueues ?? 256;
  }

  /** `results` first, then the checks-* queues seen so far; does not touch Redis. */
  knownNames(): string[] {
    return [RESULTS_QUEUE, ...this.known];
  }

  /** Like knownNames, after one bounded discovery step when one is due. Rejects when Redis cannot be scanned. */
  async names(): Promise<string[]> {
    this.discovering ??= this.discoverStep().finally(() => (this.discovering = undefined));
    await this.discovering;
    return this.knownNames();
  }

  /** The (shared-connection) BullMQ handle of a queue, created on first use. */
  handle(name: string): Queue {
    if (this.closed) throw new Error('queue handles are closed');
    let q = this.handles.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.bullPrefix });
      q.on('error', (err: Error) => this.warn.warn(`queue:${name}`, `queue ${name}: ${err.message}`));
      this.handles.set(name, q);
    }
    return q;
  }

  /** Closes the handles (not the shared connection); later handle() calls throw. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.handles.values()];
    this.handles.clear();
    await Promise.allSettled(all.map((q) => q.close()));
  }

  private async discoverStep(): Promise<void> {
    if (!this.pass) {
      if (this.now() - this.lastPassAt < this.rediscoverEvery) return;
      this.pass = { cursor: '0', found: new Set() };
    }
    const pass = this.pass;
    const head = `${this.bullPrefix}:`;
    const pattern = `${globEscape(head)}checks-*:meta`;
    try {
      for (let i = 0; i < this.scanCallsPerStep; i++) {
        const [cursor, batch] = await this.connection.scan(pass.cursor, 'MATCH', pattern, 'COUNT', 1000);
        for (const key of batch) {
          const name = key.slice(head.length, -':meta'.length);
          // `*` also matches colons: only a plain queue name is a queue (not a job id that happens to end in :meta).
          if (/^checks-[^:]+$/.test(name) && pass.found.size < this.maxQueues) pass.found.add(name);
        }
        pass.cursor = cursor;
        if (cursor === '0') {
          this.known = [...pass.found].sort();
          this.pass = undefined;
          this.lastPassAt = this.now();
          return;
        }
      }
      // Not done: show what is known so far and go on from the cursor next time.
      this.known = [...new Set([...this.known, ...pass.found])].sort().slice(0, this.maxQueues);
    } catch (err) {
      // Start over next time; the names known so far stay.
      this.pass = undefined;
      throw err;
    }
  }
}

interface QueueReading {
  counts: Record<QueueState, number>;
  oldestWaitingSeconds: number;
}

export interface QueueMetricsOptions {
  logger: Logger;
  now?: () => number;
  /**
   * A scrape waits at most this long for Redis, then shows the last values read (and failover_queue_metrics_stale
   * 1). Default 500 ms, so /metrics answers within a second while Redis is unreachable.
   */
  timeoutMs?: number;
}

/** Which collector serves a registry's failover_queue_jobs (keyed by the gauge, so copies of Metrics agree). */
const owners = new WeakMap<Gauge<string>, QueueMetricsCollector>();

/** True when a QueueMetricsCollector fills failover_queue_jobs of these metrics at scrape time. */
export function queueMetricsCollected(metrics: Pick<Metrics, 'queueJobs'>): boolean {
  return owners.has(metrics.queueJobs);
}

/**
 * prom-client copies `collect` from a metric's configuration onto the metric and awaits it before every read
 * (`registry.metrics()`), which is how a gauge is filled at scrape time without timers. The gauges here are created
 * by createMetrics, so the function is set afterwards.
 */
function setCollect<T extends string>(gauge: Gauge<T>, collect: (() => Promise<void>) | undefined): void {
  Object.assign(gauge, { collect });
}

/**
 * Fills failover_queue_jobs{queue,state} and failover_queue_oldest_waiting_seconds{queue} on each scrape from the
 * queues' job counts and oldest waiting job. Both gauges' collect functions share one in-flight read per scrape.
 * A queue that cannot be read keeps its last values (a scrape never fails because Redis blinked), and the problem
 * is logged at most once per 30 s per cause.
 */
export class QueueMetricsCollector {
  private readonly last = new Map<string, QueueReading>();
  private readonly warn: RateLimitedLog;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  /** Resolves true when every queue was read, false when some figures are from an earlier read. */
  private reading: Promise<boolean> | undefined;

  constructor(
    private readonly queues: DeploymentQueues,
    private readonly metrics: Pick<Metrics, 'queueJobs' | 'queueOldestWaiting'> & Partial<Pick<Metrics, 'queueMetricsStale'>>,
    opts: QueueMetricsOptions,
  ) {
    this.warn = new RateLimitedLog(opts.logger);
    this.now = opts.now ?? Date.now;
    this.timeoutMs = opts.timeoutMs ?? 500;
  }

  /** Sets the gauges' collect functions: from now on every scrape reads the queues. */
  attach(): this {
    owners.set(this.metrics.queueJobs, this);
    setCollect(this.metrics.queueJobs, async () => {
      await this.refresh();
      this.applyCounts();
    });
    setCollect(this.metrics.queueOldestWaiting, async () => {
      await this.refresh();
      this.applyOldest();
    });
    return this;
  }

  /** Removes the collect functions, unless another collector has taken the gauges over since. */
  detach(): void {
    if (owners.get(this.metrics.queueJobs) !== this) return;
    owners.delete(this.metrics.queueJobs);
    setCollect(this.metrics.queueJobs, undefined);
    setCollect(this.metrics.queueOldestWaiting, undefined);
  }

  /** Reads every queue (one read at a time, shared by concurrent callers); resolves by the timeout at the latest. */
  refresh(): Promise<void> {
    this.reading ??= this.readAll()
      .then((complete) => complete)
      .catch((err: unknown) => {
        this.warn.warn('read', `cannot read queue metrics: ${(err as Error).message}`);
        return false;
      })
      .finally(() => (this.reading = undefined));
    const reading = this.reading;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.warn.warn('timeout', `queue metrics: Redis did not answer within ${this.timeoutMs} ms; showing the last values read`);
        this.metrics.queueMetricsStale?.set(1);
        resolve();
      }, this.timeoutMs);
      timer.unref();
      void reading.then((complete) => {
        clearTimeout(timer);
        this.metrics.queueMetricsStale?.set(complete ? 0 : 1);
        resolve();
      });
    });
  }

  private async readAll(): Promise<boolean> {
    let names: string[];
    let complete = true;
    try {
      names = await this.queues.names();
    } catch (err) {
      this.warn.warn('discover', `cannot list the checks-* queues: ${(err as Error).message}`);
      names = this.queues.knownNames();
      complete = false;
    }
    for (const q of this.last.keys()) if (!names.includes(q)) this.last.delete(q);
    await Promise.all(
      names.map(async (name) => {
        try {
          const q = this.queues.handle(name);
          const [counts, oldest] = await Promise.all([q.getJobCounts(...QUEUE_STATES), q.getWaiting(0, 0)]);
          const job = oldest[0];
          // When it became waiting: a delayed job (or a scheduler's next run) waits from its due time on.
          const since = job ? job.timestamp + (job.opts.delay ?? 0) : undefined;
          const reading: QueueReading = {
            counts: Object.fromEntries(QUEUE_STATES.map((s) => [s, counts[s] ?? 0])) as Record<QueueState, number>,
            oldestWaitingSeconds: since === undefined ? 0 : Math.max(0, this.now() - since) / 1000,
          };
          this.last.set(name, reading);
        } catch (err) {
          complete = false;
          this.warn.warn(`read:${name}`, `cannot read queue ${name}: ${(err as Error).message}`);
        }
      }),
    );
    return complete;
  }

  private applyCounts(): void {
    const g = this.metrics.queueJobs;
    g.reset();
    for (const [queue, r] of this.last) for (const state of QUEUE_STATES) g.set({ queue, state }, r.counts[state]);
  }

  private applyOldest(): void {
    const g = this.metrics.queueOldestWaiting;
    g.reset();
    for (const [queue, r] of this.last) g.set({ queue }, r.oldestWaitingSeconds);
  }
}

/** Queue metrics on /metrics for these queues: the collector, attached. detach() it before closing the queues. */
export function registerQueueMetrics(metrics: Metrics, queues: DeploymentQueues, opts: QueueMetricsOptions): QueueMetricsCollector {
  return new QueueMetricsCollector(queues, metrics, opts).attach();
}
