import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import {
  checkName,
  checksQueueName,
  readinessCheckName,
  type PortalConfig,
  type VersionSource,
  keys,
  probe,
  RateLimitedLog,
  RESULTS_QUEUE,
  type CheckConfig,
  type CheckResult,
  type Config,
  type Logger,
  type Metrics,
} from '@portal-failover/shared';
import { CaptureStore, createRedis, zeroCheckerMetrics } from '@portal-failover/shared';
import { SchedulerGuard } from './scheduler-guard';
import { CaptureOnFailure } from './capture';
import { VantageIdentity } from './vantage-identity';
import { WindowIntervals } from './window-intervals';

export interface CheckerOptions {
  config: Config;
  vantage?: string;
  bullConnection: ConnectionOptions;
  /** Command connection for the implied vantage key; defaults to bullConnection when that is a client. */
  redis?: Pick<Redis, 'set' | 'get'>;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}

interface ProbeJob {
  portal: string;
  site: string;
  check: string;
}

interface ScheduledCheck extends ProbeJob {
  schedulerId: string;
  config: CheckConfig;
  readiness: boolean;
  /** The interval it is probed at now: its own, or a risk window's probeInterval (window-intervals.ts). */
  intervalMs: number;
  /** Set when another site's readiness compares its content version against this site's. */
  version?: VersionSource;
}

/** Per site, where its content version is read, when another site's readiness check compares against it. */
function versionSources(p: PortalConfig): Map<string, VersionSource> {
  const out = new Map<string, VersionSource>();
  for (const s of p.sites) {
    for (const c of s.readiness) {
      const ref = c.type === 'http' ? c.expect.sameVersionAs : undefined;
      if (ref && !out.has(ref.site)) out.set(ref.site, ref.header !== undefined ? { header: ref.header } : { jsonPointer: ref.jsonPointer });
    }
  }
  return out;
}

/**
 * Runs the probes of one vantage. A BullMQ job scheduler per check produces the probe jobs; several checker
 * processes of the same vantage share its queue, and each vantage has its own queue so every vantage probes
 * every check. Results go to the controller through the results queue with deterministic job ids. The
 * SchedulerGuard keeps the schedulers in place when Redis loses them.
 */
export class Checker {
  readonly vantage: string;
  private readonly log: Logger;
  private readonly warn: RateLimitedLog;
  private readonly checks = new Map<string, ScheduledCheck>();
  private readonly queue: Queue<ProbeJob>;
  private readonly results: Queue<CheckResult>;
  private worker: Worker<ProbeJob> | undefined;
  private guard: SchedulerGuard | undefined;
  /** Keeps the failing response when a check turns from up to down (evidence bundles). */
  private readonly capture: CaptureOnFailure;
  private captureRedis: Redis | undefined;
  private identity: VantageIdentity | undefined;
  private windows: WindowIntervals | undefined;
  private retuneTimer: NodeJS.Timeout | undefined;
  private retuning = false;
  private readonly now: () => number;

  constructor(private readonly opts: CheckerOptions) {
    this.vantage = opts.vantage ?? opts.config.checker.vantage;
    this.now = opts.now ?? Date.now;
    this.log = opts.logger.child({ component: 'checker', vantage: this.vantage });
    this.warn = new RateLimitedLog(this.log);
    const prefix = keys(opts.config.redis.prefix).bull;
    this.queue = new Queue<ProbeJob>(checksQueueName(this.vantage), { connection: opts.bullConnection, prefix });
    this.results = new Queue<CheckResult>(RESULTS_QUEUE, { connection: opts.bullConnection, prefix });
    // Without listeners BullMQ prints every reconnect error to the console; one rate-limited line is enough.
    this.queue.on('error', (err) => this.warn.warn('queue', `checks queue: ${err.message}`));
    this.results.on('error', (err) => this.warn.warn('queue', `results queue: ${err.message}`));
    zeroCheckerMetrics(opts.metrics, opts.config, this.vantage);
    const ev = opts.config.evidence;
    this.capture = new CaptureOnFailure({
      maxBodyBytes: ev.maxBodyBytes,
      save: (c) => {
        // Its own connection, opened at the first capture: most checkers never need one.
        this.captureRedis ??= createRedis(opts.config.redis, 'command');
        return new CaptureStore(this.captureRedis, opts.config.redis.prefix, ev.retention).save(c);
      },
    });
    for (const p of opts.config.portals) {
      const versions = versionSources(p);
      for (const s of p.sites) {
        // Readiness checks are scheduled and probed exactly like serving checks; only the controller tells them apart.
        const all = [...s.checks.map((c, i) => ({ c, check: checkName(c, i), readiness: false })), ...s.readiness.map((c, i) => ({ c, check: readinessCheckName(c, i), readiness: true }))];
        for (const { c, check, readiness } of all) {
          const schedulerId = `${p.id}.${s.name}.${check}`;
          // The vantage header lets site operators (and the simulated sites) tell the vantages apart.
          const config: CheckConfig = c.type === 'http' ? { ...c, headers: { 'x-portal-failover-vantage': this.vantage, ...c.headers } } : c;
          this.checks.set(schedulerId, { portal: p.id, site: s.name, check, schedulerId, config, readiness, intervalMs: c.interval, version: c.type === 'http' ? versions.get(s.name) : undefined });
        }
      }
    }
  }

  async start(): Promise<void> {
    this.identity = await VantageIdentity.start(this.opts.config, this.vantage, this.keyStore(), this.log);
    // A risk window already in force when the checker starts: its schedulers start at the window's interval.
    this.windows = new WindowIntervals(this.opts.config, this.opts.redis ?? this.opts.bullConnection);
    await this.windows.refresh(this.now()).catch((err: Error) => this.warn.warn('risk-windows', `cannot read announced risk windows: ${err.message}`));
    for (const c of this.checks.values()) c.intervalMs = this.windows.intervalFor(c, this.now());
    this.guard = new SchedulerGuard({
      queue: this.queue,
      connection: this.opts.bullConnection instanceof EventEmitter ? this.opts.bullConnection : undefined,
      wanted: [...this.checks.values()].map((c) => ({ id: c.schedulerId, everyMs: c.intervalMs, data: { portal: c.portal, site: c.site, check: c.check } })),
      logger: this.log,
      onRecreated: (n) => this.opts.metrics.schedulersRecreated.inc({ vantage: this.vantage }, n),
      now: this.now,
    });
    await this.guard.start();
    this.worker = new Worker<ProbeJob>(checksQueueName(this.vantage), (job) => this.run(job), {
      connection: this.opts.bullConnection,
      prefix: keys(this.opts.config.redis.prefix).bull,
      concurrency: this.opts.config.checker.concurrency,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 100 },
    });
    this.worker.on('error', (err) => this.warn.warn('worker', `probe worker error: ${err.message}`));
    this.retuneTimer = setInterval(() => void this.retune(), 1_000);
    this.log.info(`checking ${this.checks.size} checks from vantage ${this.vantage}`);
  }

  /** Follows risk windows' probeInterval: rewrites the schedulers of the checks whose interval changes now. */
  async retune(): Promise<void> {
    const w = this.windows;
    if (!w || !this.guard || this.retuning) return;
    this.retuning = true;
    try {
      await w.refresh(this.now()).catch((err: Error) => this.warn.warn('risk-windows', `cannot read announced risk windows: ${err.message}`));
      const changes = w.changes(this.checks.values(), this.now());
      if (!changes.size) return;
      for (const [id, ms] of changes) this.checks.get(id)!.intervalMs = ms;
      const list = [...changes].map(([id, ms]) => `${id} ${ms}ms`);
      this.log.info(`risk windows: probe intervals now ${list.slice(0, 5).join(', ')}${list.length > 5 ? ` and ${list.length - 5} more` : ''}`);
      await this.guard.retune(changes);
    } finally {
      this.retuning = false;
    }
  }

  /** Where the implied vantage key lives: the given command connection, or the BullMQ one when it is a client. */
  private keyStore(): Pick<Redis, 'set' | 'get'> {
    if (this.opts.redis) return this.opts.redis;
    const conn = this.opts.bullConnection as Partial<Pick<Redis, 'set' | 'get'>>;
    if (typeof conn.set === 'function' && typeof conn.get === 'function') return conn as Pick<Redis, 'set' | 'get'>;
    throw new Error('the checker needs a Redis client (redis option) to read its vantage key');
  }

  /** Verifies the job schedulers now and recreates missing ones (the guard also does this on its own timer). */
  async verifySchedulers(): Promise<void> {
    await this.guard?.tick();
  }

  private async run(job: Job<ProbeJob>): Promise<void> {
    const c = this.checks.get(`${job.data.portal}.${job.data.site}.${job.data.check}`);
    if (!c) throw new UnrecoverableError(`no configured check ${job.data.portal}/${job.data.site}/${job.data.check}`);
    const interval = c.intervalMs;
    // A probe job that waited longer than its interval (busy queue, paused worker) measures nothing useful now:
    // a fresher one is already due. Dropping it keeps results close to real time.
    const scheduledAt = job.timestamp + (job.opts.delay ?? 0);
    if (this.now() - scheduledAt > interval) return;
    const at = this.now();
    const outcome = await probe(c.config, { portal: c.portal, version: c.version });
    const result: CheckResult = { ...outcome, portal: c.portal, site: c.site, check: c.check, vantage: this.vantage, at, intervalMs: interval };
    const labels = { portal: c.portal, site: c.site, check: c.check, vantage: this.vantage };
    this.opts.metrics.checkUp.set(labels, outcome.ok ? 1 : 0);
    this.opts.metrics.checkDuration.observe(labels, outcome.durationMs / 1000);
    if (outcome.certExpiresAt !== undefined) {
      this.opts.metrics.tlsCertExpiry.set({ portal: c.portal, site: c.site, check: c.check }, Math.floor(outcome.certExpiresAt / 1000));
    }
    // A warning (certificate close to expiry) is something to fix, never a failure; once a while per check is enough.
    if (outcome.warning) this.warn.warn(`warning.${c.schedulerId}`, `${c.schedulerId}: ${outcome.warning}`);
    if (!outcome.ok) {
      this.opts.metrics.checkFailures.inc({ ...labels, reason: outcome.reason ?? 'error' });
      this.log.debug(`${c.schedulerId} failed: ${outcome.detail ?? outcome.reason}`);
    }
    this.capture.observe(c.config, result)?.catch((err: Error) => this.warn.warn(`capture.${c.schedulerId}`, `cannot keep the failing response of ${c.schedulerId}: ${err.message}`));
    const slot = Math.floor(scheduledAt / interval);
    // Signed where it is built: the controller takes results only from declared vantages, with their key.
    if (!this.identity) throw new Error('checker not started');
    await this.results.add('result', this.identity.sign(result), {
      // The interval is part of the id: slots of a window's faster interval must not collide with the usual ones.
      jobId: `${this.vantage}.${c.schedulerId}.${interval}.${slot}`,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 1000 },
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.retuneTimer);
    this.guard?.stop();
    this.identity?.stop();
    await this.worker?.close(true);
    await Promise.allSettled([this.queue.close(), this.results.close(), this.captureRedis?.quit()]);
  }

  /** Removes this vantage's schedulers (used when a vantage is retired, and by tests). */
  async removeSchedulers(): Promise<void> {
    for (const s of await this.queue.getJobSchedulers(0, -1)) if (s.key) await this.queue.removeJobScheduler(s.key);
  }
}
