// One class on purpose: the shard plan, the window shards of risk windows, the slot claims, probe slots and result
// batching share the checker's state (which check runs where and when); split apart they would pass it around on
// every probe. The pure parts live beside it: shard-plan.ts, window-intervals.ts, probe-slots.ts, result-batcher.ts.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  checkName,
  checksQueueName,
  readinessCheckName,
  type PortalConfig,
  type VersionSource,
  keys,
  perCheckHistograms,
  probe,
  RateLimitedLog,
  RESULTS_QUEUE,
  type CheckConfig,
  type CheckResult,
  type Config,
  type Logger,
  type Metrics,
  type ResultBatch,
} from '@portal-failover/shared';
import { CaptureStore, createRedis, zeroCheckerMetrics } from '@portal-failover/shared';
import { CaptureOnFailure } from './capture';
import { ProbeSlots } from './probe-slots';
import { VantageIdentity } from './vantage-identity';
import { SchedulerGuard } from './scheduler-guard';
import { ResultBatcher } from './result-batcher';
import { checkDueAt, planShards, shardJobData, shardSchedulerId, type PlannedCheck, type Shard, type ShardJobData } from './shard-plan';
import { WindowIntervals, type TunableCheck } from './window-intervals';
import type { WantedScheduler } from './scheduler-guard';

export interface CheckerOptions {
  config: Config;
  vantage?: string;
  /** BullMQ's connection (ServiceContext.bullConnection); the checker also claims shard slots over it. */
  bullConnection: Redis;
  /** Command connection for the implied vantage key; defaults to bullConnection. */
  redis?: Pick<Redis, 'set' | 'get'>;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
  /** Results leave the process at the latest this long after the probe finished, ms. Default 50. */
  flushEvery?: number;
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

type CheckLabels = { portal: string; site: string; check: string; vantage: string };

/** Why a due check did not produce a result (the `reason` label of failover_checks_skipped_total). */
export type SkipReason = 'late' | 'overlap' | 'unknown_shard' | 'unsent';

/** A shard job waits at most this many due checks' worth of probes ahead of the free probe slots. */
const SHARD_JOBS_PER_PROCESS = 32;

/**
 * The slot a shard job was made for: the planned due time (a multiple of the interval plus the shard's offset) at or
 * before the time in its job id (`repeat:<id>:<ms>`, which stays right when the job was created after that time,
 * unlike timestamp + delay). Snapping to the plan keeps every check at its own phase of the interval even when the
 * scheduler catches up after a pause, so two runs of a check are always one interval apart.
 */
function shardDueAt(job: Job<ShardJobData>, shard: Shard): number {
  const slot = /:(\d+)$/.exec(job.id ?? '');
  const at = job.data.dueAt ?? (slot ? Number(slot[1]) : job.timestamp + (job.opts.delay ?? 0));
  return Math.floor((at - shard.offset) / shard.interval) * shard.interval + shard.offset;
}

function wantedOf(s: Shard): WantedScheduler {
  return { id: s.schedulerId, everyMs: s.interval, offsetMs: s.offset, data: { ...shardJobData(s) } };
}

/**
 * Runs the probes of one vantage. Checks are grouped into shards per interval (see shard-plan.ts); one BullMQ job
 * scheduler per shard fires once per interval, and its job starts every check of the shard at that check's own due
 * time. Several checker processes of the same vantage share its queue: each shard job goes to exactly one of them,
 * so they split the work without duplicates, and every vantage has its own queue so every vantage probes every
 * check. Results leave in batches, one results-queue job per flush window.
 */
export class Checker {
  readonly vantage: string;
  private readonly log: Logger;
  private readonly warn: RateLimitedLog;
  private readonly shards = new Map<string, Shard>();
  private readonly planned = new Map<string, PlannedCheck>();
  /** Checks a risk window's probeInterval moved off their configured interval, with the interval they run at now. */
  private readonly windowed = new Map<string, number>();
  /** The shards of the windowed checks (planned from them alone, see ShardJobData.window). */
  private windowShards = new Map<string, Shard>();
  private windows: WindowIntervals | undefined;
  private retuneTimer: NodeJS.Timeout | undefined;
  private retuning = false;
  private readonly checkCount: number;
  /** Checks whose previous probe has not finished yet. */
  private readonly inFlight = new Set<string>();
  private readonly probes = new Set<Promise<void>>();
  private readonly slots: ProbeSlots;
  private readonly queue: Queue<ShardJobData>;
  private readonly results: Queue<ResultBatch>;
  private readonly batcher: ResultBatcher;
  private readonly perCheckHistograms: boolean;
  private worker: Worker<ShardJobData> | undefined;
  private guard: SchedulerGuard | undefined;
  private identity: VantageIdentity | undefined;
  /** Keeps the failing response when a check turns from up to down (evidence bundles). */
  private readonly capture: CaptureOnFailure;
  private captureRedis: Redis | undefined;
  private readonly k: ReturnType<typeof keys>;
  private stopped = false;
  private readonly now: () => number;
  private readonly vantageLabels: { vantage: string };
  /** Per check, made once: the labels of its per-check series and the failover_check_up value last set. */
  private readonly checkLabels = new Map<string, CheckLabels>();
  private readonly lastUp = new Map<string, number>();

  constructor(private readonly opts: CheckerOptions) {
    const { config } = opts;
    this.vantage = opts.vantage ?? config.checker.vantage;
    this.vantageLabels = { vantage: this.vantage };
    this.now = opts.now ?? Date.now;
    this.log = opts.logger.child({ component: 'checker', vantage: this.vantage });
    this.warn = new RateLimitedLog(this.log);
    this.slots = new ProbeSlots(config.checker.concurrency);
    this.perCheckHistograms = perCheckHistograms(config);
    this.k = keys(config.redis.prefix);
    const prefix = this.k.bull;
    this.queue = new Queue<ShardJobData>(checksQueueName(this.vantage), { connection: opts.bullConnection, prefix });
    this.results = new Queue<ResultBatch>(RESULTS_QUEUE, { connection: opts.bullConnection, prefix });
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
    this.batcher = new ResultBatcher(this.results, {
      idPrefix: `${this.vantage}.${hostname()}.${process.pid}.${randomBytes(4).toString('hex')}`,
      flushEvery: opts.flushEvery ?? 50,
      maxBatch: 1000,
      maxPending: 100_000,
      now: this.now,
      onDropped: (count, why, err) => {
        this.skip('unsent', count);
        this.warn.warn(`dropped:${why}`, `dropped ${count} check results (${why})${err ? `: ${err.message}` : ''}`);
      },
    });
    const checks: PlannedCheck[] = [];
    for (const p of config.portals) {
      const versions = versionSources(p);
      for (const s of p.sites) {
        // Readiness checks are scheduled and probed exactly like serving checks; only the controller tells them apart.
        const all = [...s.checks.map((c, i) => ({ c, check: checkName(c, i), readiness: false })), ...s.readiness.map((c, i) => ({ c, check: readinessCheckName(c, i), readiness: true }))];
        for (const { c, check, readiness } of all) {
          // The vantage header lets site operators (and the simulated sites) tell the vantages apart.
          const cfg: CheckConfig = c.type === 'http' ? { ...c, headers: { 'x-portal-failover-vantage': this.vantage, ...c.headers } } : c;
          checks.push({ id: `${p.id}.${s.name}.${check}`, portal: p.id, site: s.name, check, config: cfg, readiness, version: c.type === 'http' ? versions.get(s.name) : undefined });
        }
      }
    }
    this.checkCount = checks.length;
    for (const c of checks) this.planned.set(c.id, c);
    for (const shard of planShards(checks, config.checker.shardSize)) this.shards.set(shard.schedulerId, shard);
  }

  async start(): Promise<void> {
    this.identity = await VantageIdentity.start(this.opts.config, this.vantage, this.opts.redis ?? this.opts.bullConnection, this.log);
    // A risk window already in force when the checker starts: its checks start in window shards at once.
    this.windows = new WindowIntervals(this.opts.config, this.opts.bullConnection);
    await this.windows.refresh(this.now()).catch((err: Error) => this.warn.warn('risk-windows', `cannot read announced risk windows: ${err.message}`));
    this.applyIntervals(this.windows.changes(this.tunable(), this.now()));
    // One scheduler per shard (a few hundred at most), kept in place by the guard when Redis loses them.
    this.guard = new SchedulerGuard({
      queue: this.queue,
      connection: this.opts.bullConnection,
      wanted: [...this.shards.values(), ...this.windowShards.values()].map(wantedOf),
      logger: this.log,
      onRecreated: (n) => this.opts.metrics.schedulersRecreated.inc({ vantage: this.vantage }, n),
      afterRecreate: (ids) => this.runCurrentSlots(ids),
      now: this.now,
    });
    await this.guard.start();
    this.worker = new Worker<ShardJobData>(checksQueueName(this.vantage), (job) => this.runShard(job), {
      connection: this.opts.bullConnection,
      prefix: keys(this.opts.config.redis.prefix).bull,
      concurrency: SHARD_JOBS_PER_PROCESS,
      // A shard job whose process died is not handed to another process: by the time the stall is noticed its
      // checks are late, some may already have run, and the scheduler has queued the next run of the shard.
      maxStalledCount: 0,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 100 },
    });
    this.worker.on('error', (err) => this.warn.warn('worker', `shard worker error: ${err.message}`));
    this.retuneTimer = setInterval(() => void this.retune(), 1_000);
    this.log.info(`checking ${this.checkCount} checks from vantage ${this.vantage} in ${this.shards.size} shards`);
  }

  /** Every check with the interval it runs at now, for WindowIntervals. */
  private *tunable(): Iterable<TunableCheck> {
    for (const c of this.planned.values()) {
      yield { schedulerId: c.id, portal: c.portal, readiness: c.readiness, config: { interval: c.config.interval, timeout: c.config.timeout }, intervalMs: this.windowed.get(c.id) ?? c.config.interval };
    }
  }

  /** Takes new intervals of some checks and plans the window shards again from every windowed check. */
  private applyIntervals(changes: ReadonlyMap<string, number>): void {
    for (const [id, ms] of changes) {
      if (ms === this.planned.get(id)?.config.interval) this.windowed.delete(id);
      else this.windowed.set(id, ms);
    }
    const moved = [...this.windowed].map(([id, ms]) => {
      const c = this.planned.get(id)!;
      return { ...c, config: { ...c.config, interval: ms } };
    });
    this.windowShards = new Map(planShards(moved, this.opts.config.checker.shardSize, true).map((s) => [s.schedulerId, s]));
  }

  /** Follows risk windows' probeInterval: moves the checks whose interval changes now into or out of window shards. */
  async retune(): Promise<void> {
    const w = this.windows;
    if (!w || !this.guard || this.retuning || this.stopped) return;
    this.retuning = true;
    try {
      await w.refresh(this.now()).catch((err: Error) => this.warn.warn('risk-windows', `cannot read announced risk windows: ${err.message}`));
      // Every check every second costs at 25,000 checks; with no window anywhere and none still applied, nothing moves.
      if (!w.any && !this.windowed.size) return;
      const changes = w.changes(this.tunable(), this.now());
      if (!changes.size) return;
      this.applyIntervals(changes);
      const list = [...changes].map(([id, ms]) => `${id} ${ms}ms`);
      this.log.info(`risk windows: probe intervals now ${list.slice(0, 5).join(', ')}${list.length > 5 ? ` and ${list.length - 5} more` : ''}`);
      await this.guard.replaceGroup((id) => id.startsWith('window-'), [...this.windowShards.values()].map(wantedOf));
    } finally {
      this.retuning = false;
    }
  }

  /**
   * A recreated scheduler first fires at its next slot, up to an interval away; after Redis lost everything that
   * would leave the portals without results for up to two intervals. So the slot in progress is run now by a one-off
   * job per shard (its id names the slot, so every process of the vantage adds the same job; the slot claim keeps
   * it from running twice anyway).
   */
  private async runCurrentSlots(ids: string[]): Promise<void> {
    const now = this.now();
    await Promise.all(
      ids.map((id) => {
        const s = this.shards.get(id) ?? this.windowShards.get(id);
        if (!s) return undefined;
        const dueAt = Math.floor((now - s.offset) / s.interval) * s.interval + s.offset;
        return this.queue
          .add('shard', { ...shardJobData(s), dueAt }, { jobId: `catchup-${id}-${dueAt}`, removeOnComplete: { count: 0 }, removeOnFail: { count: 100 } })
          .catch((err: Error) => this.warn.warn('catchup', `cannot run the current slot of ${id}: ${err.message}`));
      }),
    );
  }

  /** Verifies the job schedulers now and recreates missing ones (the guard also does this on its own timer). */
  async verifySchedulers(): Promise<void> {
    await this.guard?.tick();
  }

  /** Claims a shard slot and sets off the walk that starts its checks at their due times. */
  private async runShard(job: Job<ShardJobData>): Promise<void> {
    const id = shardSchedulerId(job.data);
    const shard = this.shards.get(id) ?? this.windowShards.get(id);
    if (!shard) {
      // Another process of this vantage runs a different config (a rolling change): its shards are not ours.
      this.warn.warn(`unknown:${job.name}`, `shard job ${id} is not in this checker's config; skipped`);
      this.skip('unknown_shard', 1);
      return;
    }
    const dueAt = shardDueAt(job, shard);
    // A shard job that waited longer than its interval (paused worker, overloaded process) measures nothing useful
    // now: the next one is already due. Its checks are counted as skipped instead of silently dropped.
    if (this.now() - dueAt > shard.interval) {
      this.skip('late', shard.checks.length);
      return;
    }
    // BullMQ hands a stalled scheduler job to a worker again (it never fails repeatable jobs for stalling), and
    // a worker starved long enough to lose its lock stalls. One SET NX per shard run makes sure a slot runs once
    // across all processes of the vantage; it expires when the slot can no longer be run anyway.
    const claim = this.k.shardClaim(this.vantage, shard.schedulerId, dueAt);
    if ((await this.opts.bullConnection.set(claim, job.id ?? '', 'PX', 2 * shard.interval, 'NX')) !== 'OK') {
      this.log.debug(`shard ${shard.schedulerId} slot ${dueAt} already ran; ignoring the repeated job`);
      return;
    }
    // The checks are started by a walk of their own, and the job ends at once: a job that lasted until its last
    // check ended just as the next shard came due, and BullMQ hands a finishing worker its next job itself, so one
    // process of a vantage took nearly every shard (94 % in a CI run). A process already behind (probes waiting for
    // a slot) keeps the job until its checks started, so it takes fewer shards and the others take the rest.
    const walk = this.walk(shard, dueAt).catch((err: Error) => this.warn.warn('walk', `shard ${shard.schedulerId}: ${err.message}`));
    if (this.slots.behind) await walk;
  }

  /** Starts every check of a shard slot at its due time; resolves once each has started or been skipped. */
  private async walk(shard: Shard, dueAt: number): Promise<void> {
    // A check a risk window moved runs in its window shard only, and back in its own shard once the window is over.
    const runsHere = (c: PlannedCheck) => (shard.window ? this.windowed.get(c.id) === shard.interval : !this.windowed.has(c.id));
    // The checks come due in order (delays never decrease), so one timer at a time per shard job walks through them.
    // A timer and a promise per check, made when the job starts and kept until the check is due (up to an interval),
    // lived long enough to be promoted to V8's old generation: at 25,000 checks that was most of the checker's heap.
    const starts: Promise<void>[] = [];
    for (let i = 0; i < shard.checks.length && !this.stopped; i++) {
      const due = checkDueAt(shard, dueAt, i);
      // A timer may fire a millisecond or two early by the wall clock; a probe never starts before its due time.
      for (let wait = due - this.now(); wait > 0; wait = due - this.now()) await new Promise((r) => setTimeout(r, wait));
      const c = shard.checks[i];
      if (!this.stopped && runsHere(c)) starts.push(this.startNow(c, due));
    }
    await Promise.all(starts);
  }

  /** Starts a due check once a probe slot is free, unless it is an interval late by then or its last probe still runs. */
  private async startNow(c: PlannedCheck, due: number): Promise<void> {
    await this.slots.acquire();
    if (this.stopped) return this.slots.release();
    const started = this.now();
    // Strictly less than one interval late, or not at all: a probe that started a whole interval late would share
    // its start-time slot with the next one's probe, and the controller would see two results for one slot (the
    // "duplicate slots" the throughput test found under load were exactly such pairs, each started 1,000 ms late).
    if (started - due >= c.config.interval) {
      this.slots.release();
      return this.skip('late', 1);
    }
    if (this.inFlight.has(c.id)) {
      this.slots.release();
      return this.skip('overlap', 1);
    }
    this.opts.metrics.checkLag.observe(this.vantageLabels, Math.max(0, started - due) / 1000);
    this.inFlight.add(c.id);
    const running = this.probe(c, started).finally(() => {
      this.inFlight.delete(c.id);
      this.slots.release();
      this.probes.delete(running);
    });
    this.probes.add(running);
  }

  private async probe(c: PlannedCheck, at: number): Promise<void> {
    const keepResponse = this.capture.keepResponse(c.config, c, at);
    // The kept response is evidence for the capture store; it never travels with the result.
    const { response, ...outcome } = await probe(c.config, { portal: c.portal, version: c.version, ...(keepResponse ? { keepResponse } : {}) });
    const result: CheckResult = { ...outcome, portal: c.portal, site: c.site, check: c.check, vantage: this.vantage, at, intervalMs: c.config.interval };
    const m = this.opts.metrics;
    const labels = this.labelsOf(c);
    // Set on change only: prom-client hashes the four labels on every set, at every result of every check.
    const up = outcome.ok ? 1 : 0;
    if (this.lastUp.get(c.id) !== up) {
      m.checkUp.set(labels, up);
      this.lastUp.set(c.id, up);
    }
    m.vantageCheckDuration.observe(this.vantageLabels, outcome.durationMs / 1000);
    if (this.perCheckHistograms) m.checkDuration.observe(labels, outcome.durationMs / 1000);
    if (outcome.certExpiresAt !== undefined) {
      m.tlsCertExpiry.set({ portal: c.portal, site: c.site, check: c.check }, Math.floor(outcome.certExpiresAt / 1000));
    }
    // A warning (certificate close to expiry) is something to fix, never a failure; once a while per check is enough.
    if (outcome.warning) this.warn.warn(`warning.${c.id}`, `${c.id}: ${outcome.warning}`);
    if (!outcome.ok) {
      m.checkFailures.inc({ ...labels, reason: outcome.reason ?? 'error' });
      this.log.debug(`${c.id} failed: ${outcome.detail ?? outcome.reason}`);
    }
    this.capture.observe(c.config, result, response)?.catch((err: Error) => this.warn.warn(`capture.${c.id}`, `cannot keep the failing response of ${c.id}: ${err.message}`));
    // Signed where it is built: the controller takes results only from declared vantages, with their key.
    if (!this.identity) throw new Error('checker not started');
    this.batcher.add(this.identity.sign(result));
  }

  private labelsOf(c: PlannedCheck): CheckLabels {
    let l = this.checkLabels.get(c.id);
    if (l === undefined) {
      l = { portal: c.portal, site: c.site, check: c.check, vantage: this.vantage };
      this.checkLabels.set(c.id, l);
    }
    return l;
  }

  private skip(reason: SkipReason, count: number): void {
    if (count > 0) this.opts.metrics.checksSkipped.inc({ vantage: this.vantage, reason }, count);
  }

  /** Stops taking shard jobs, lets running probes finish (at most their timeout), and sends their results. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.retuneTimer);
    this.guard?.stop();
    this.identity?.stop();
    // Walks still waiting for a check's due time start nothing once stopped.
    await this.worker?.close(true);
    await Promise.allSettled([...this.probes]);
    await this.batcher.flush();
    await Promise.allSettled([this.queue.close(), this.results.close(), this.captureRedis?.quit()]);
  }

  /** Removes this vantage's schedulers (used when a vantage is retired, and by tests). */
  async removeSchedulers(): Promise<void> {
    for (const s of await this.queue.getJobSchedulers(0, -1)) if (s.key) await this.queue.removeJobScheduler(s.key);
  }
}
