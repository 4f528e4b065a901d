/**
 * The controller: every controller competes for the lease; only the holder consumes results and acts, so two never
 * both switch. This file wires the parts; each lives in a module named for its job.
 *
 * Concurrency model (the one place it is written down). A portal's state (`PortalRuntime.state`) is replaced, never
 * edited in place, and only by these, in this process, while it holds the lease:
 * 1. takeover (leadership.ts, takeover.ts): saved states are loaded before the hold counts; then operations left in
 *    flight are resumed (operation-runner.ts).
 * 2. a check result (result-intake.ts → accept): health folded in, then evaluate().
 * 3. the evaluation tick (evaluation-tick.ts): the API's freeze and acknowledgement copied in, evaluate(), a waiting
 *    switchover request taken (request-intake.ts) once the view is current after a takeover (takeover-view.ts),
 *    state saved. Ticks never overlap, so one request is taken once.
 * 4. an operation's end (operation-runner.ts): settleOperation(), evaluate(), save.
 * 5. reconciliation (reconcile.ts): provider readings applied only if no operation was in flight before or after
 *    the (slow) reads.
 * 6. a risk window's TTL change (risk-windows.ts): started only with no operation in flight, it sets `ttlLowered`
 *    when its writes are verified; a switch decided meanwhile waits for it before writing (operation-runner.ts).
 * Each change is one synchronous read-decide-write of the state (the core is pure), so no two interleave; code that
 * awaits reads the state again afterwards. "In flight" is set in the same step that decides to switch (decide(),
 * admitSwitch() or a drift repair) and cleared only by settleOperation() or a resume that finds no record; while it
 * is set nothing starts another operation for that portal, and at most one executor runs an operation.
 * Only the holder acts: evaluate() and persist() read the hold first, every Redis write carries its fencing token,
 * and a refused write, an expired validity or a lost renewal steps down. Leadership changes run on one chain.
 */
import { EventEmitter } from 'node:events';
import { Queue, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  applyResult,
  AuditLog,
  AvailabilityRecorder,
  AvailabilityStore,
  ControlStore,
  DrillStore,
  keys,
  ProbeHistory,
  RateLimitedLog,
  reportInvalidRecords,
  RESULTS_QUEUE,
  RiskWindowStore,
  StateStore,
  zeroControllerMetrics,
  type Config,
  type Decision,
  type Logger,
  type Metrics,
  type Operation,
  type PortalState,
} from '@portal-failover/shared';
import { ControlChanges } from './control-changes';
import { DrillRunner } from './drills';
import { Evaluation } from './evaluation';
import { EvaluationTick } from './evaluation-tick';
import { Lease } from './lease';
import { Leadership } from './leadership';
import { OperationRunner } from './operation-runner';
import { portalRuntimes, type PortalRuntime } from './portal-runtime';
import { Reconciler } from './reconcile';
import { ResultIntake } from './result-intake';
import { RiskWindowKeeper } from './risk-windows';
import { Takeover } from './takeover';
import { auditWitnessing, LeaderUpkeep } from './upkeep';

export interface ControllerOptions {
  config: Config;
  /** Command connection (fail-fast) for state and lease. */
  redis: Redis;
  /** Connection for the BullMQ worker (blocking, retries forever). */
  bullConnection: ConnectionOptions;
  logger: Logger;
  metrics: Metrics;
  owner?: string;
  now?: () => number;
}

export interface ControllerEvents {
  /** A decision whose analysis, phase or reason differs from the previous one (what gets logged). */
  decision: [portal: string, decision: Decision];
  /** An operation reached succeeded, failed or rejected. */
  operation: [op: Operation];
}

export class Controller extends EventEmitter<ControllerEvents> {
  /** Scheduled drills (drills.ts); ticked by the leader only. */
  readonly drills: DrillRunner;
  private readonly store: StateStore;
  private readonly portals: Map<string, PortalRuntime>;
  private readonly leadership: Leadership;
  private readonly runner: OperationRunner;
  private readonly reconciler: Reconciler<PortalRuntime>;
  private readonly evaluationTick: EvaluationTick;
  private readonly resultsQueue: Queue;
  private readonly leaseRedis: Redis;
  private evalTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ControllerOptions) {
    super();
    const { config, redis, metrics } = opts;
    const now = opts.now ?? Date.now;
    const log = opts.logger.child({ component: 'controller' });
    const warn = new RateLimitedLog(log);
    const k = keys(config.redis.prefix);
    const invalid = reportInvalidRecords(metrics, (key, message) => warn.warn(key, message));
    const store = (this.store = new StateStore(redis, k, invalid));
    const control = new ControlStore(redis, k, invalid);
    const portals = (this.portals = portalRuntimes(config, log, metrics));
    // The lease has a connection of its own: on the shared one a renewal queues behind whatever the leader sends
    // (at 12,500 portals, pipelines of thousands of commands), and a renewal that waits too long deposes a healthy leader.
    const leaseRedis = (this.leaseRedis = redis.duplicate());
    leaseRedis.on('error', (err: Error) => warn.warn('lease-redis', `lease connection: ${err.message}`));
    const lease = new Lease(leaseRedis, k, config.controller.leaseTtl, opts.owner, now);
    const actor = `controller:${lease.owner}`;
    const audit = new AuditLog(redis, k.audit, config.audit.retention, now, { maxEntries: config.audit.maxEntries });
    /** Recent probe results per portal, for evidence bundles; per-minute availability for the status page. */
    const probes = new ProbeHistory(redis, config.redis.prefix);
    const availability = new AvailabilityRecorder(new AvailabilityStore(redis, config.redis.prefix));
    const announce = (op: Operation) => this.emit('operation', op);

    // Hooks are called only after start(), so the parts built below are there by then.
    const leadership: Leadership = (this.leadership = new Leadership(lease, config.controller.renewEvery, log, warn, now, {
      prepare: () => takeover.prepare(),
      elected: (hold) => takeover.elected(hold),
      deposed: () => takeover.deposed(),
    }));
    const runner = (this.runner = new OperationRunner({
      controller: config.controller, store, lease, audit, metrics, log, warn, now, announce,
      // Re-evaluate before saving so the stored phase already reflects the outcome.
      settled: async (rt, op) => {
        evaluation.evaluate(rt);
        if (!(await evaluation.persist(rt, op))) log.warn(`operation ${op.id} finished but its result could not be saved`, { portal: op.portal });
      },
      // Only the hold a run started under steps down: a newer hold of this process is not that run's to end.
      leaseLost: async (why, hold) => {
        if (leadership.current?.value === hold.value) await leadership.stepDown(why);
      },
    }));
    const evaluation = new Evaluation({
      leader: leadership, store, runner, metrics, log, warn, now, actor: () => actor,
      decided: (portal, d) => this.emit('decision', portal, d),
    });
    const results = new ResultIntake({
      config, redis, connection: opts.bullConnection, prefix: k.bull, portals, metrics, warn, now,
      accept: (rt, r) => {
        probes.add(r);
        rt.state = { ...rt.state, health: applyResult(rt.state.health, r, rt.model.policy) };
        evaluation.evaluate(rt);
      },
    });
    const reconciler: Reconciler<PortalRuntime> = (this.reconciler = new Reconciler({
      portals, leader: leadership,
      readTimeoutMs: Math.max(1_000, Math.floor(config.controller.leaseTtl / 2)),
      deps: { logger: log, metrics, record: (e) => runner.record(e), actor, now },
      repair: (rt, action) => evaluation.startSwitch(rt, action, leadership.current!, { analysis: 'Drift', sites: {} }),
      after: async (rt) => {
        evaluation.evaluate(rt);
        await evaluation.persist(rt);
      },
    }));
    const takeover: Takeover = new Takeover({ portals, store, control, runner, results, reconcile: () => reconciler.all(), metrics, log, actor });
    const riskWindows = new RiskWindowKeeper({
      portals, store: new RiskWindowStore(redis, k, invalid), lease, metrics, log, warn, now, actor,
      record: (e) => runner.record(e),
      persist: (rt) => evaluation.persist(rt),
    });
    this.drills = new DrillRunner({
      config, store, control, drills: new DrillStore(redis, config.redis.prefix), audit, metrics, logger: log, now,
      state: (portal) => portals.get(portal)?.state,
      riskWindow: (portal) => riskWindows.inForce(portal),
    });
    this.resultsQueue = new Queue(RESULTS_QUEUE, { connection: opts.bullConnection, prefix: k.bull });
    this.resultsQueue.on('error', (err) => warn.warn('queue', `results queue: ${err.message}`));
    const witnessing = auditWitnessing({ config, audit, metrics, warn, now });
    const upkeep = new LeaderUpkeep({ config, drills: this.drills, probes, availability, audit, witnessing, resultsQueue: this.resultsQueue, metrics, warn, now });
    this.evaluationTick = new EvaluationTick({
      portals, leader: leadership, control, changes: new ControlChanges(redis, k.controlChanged, now), evaluation, runner, availability, upkeep, riskWindows, warn, now,
      evaluateEvery: config.controller.evaluateEvery,
      requests: { control, runner, log, warn, now, announce, stepDown: (why) => leadership.stepDown(why) },
    });
    metrics.controllerLeader.set(0);
    zeroControllerMetrics(metrics, config);
    metrics.auditMaxEntries.set(config.audit.maxEntries);
  }

  get isLeader(): boolean {
    return this.leadership.isLeader;
  }

  get owner(): string {
    return this.leadership.lease.owner;
  }

  /** An operation as stored (drills report the operations they ran by id). */
  drillOperation(id: string): Promise<Operation | undefined> {
    return this.store.loadOperation(id);
  }

  state(portal: string): PortalState | undefined {
    return this.portals.get(portal)?.state;
  }

  async start(): Promise<void> {
    await this.leadership.start();
    this.evalTimer = setInterval(() => void this.evaluationTick.run(), this.opts.config.controller.evaluateEvery);
    this.reconcileTimer = setInterval(() => void this.reconciler.all(), this.opts.config.controller.reconcileEvery);
  }

  async stop(): Promise<void> {
    clearInterval(this.evalTimer);
    clearInterval(this.reconcileTimer);
    await this.leadership.stop();
    // Running operations finish and record their result while the lease is still ours, for a bounded time
    // (a stuck provider call must not hold the shutdown); whatever is left is resumed by the next leader.
    await this.runner.settle(5_000);
    // Release before stepping down (which forgets the hold), so a standby controller takes over at once.
    await this.leadership.release().catch(() => undefined);
    await this.leadership.stepDown('shutting down');
    await this.resultsQueue.close();
    this.leaseRedis.disconnect();
  }
}
