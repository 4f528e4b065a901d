import { EventEmitter } from 'node:events';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  admitSwitch,
  applyResult,
  AuditLog,
  AvailabilityRecorder,
  AvailabilityStore,
  DrillStore,
  ProbeHistory,
  ControlStore,
  type ControlRecords,
  type NewAuditEntry,
  type OperationEvidence,
  type SiteStatus,
  createProvider,
  decide,
  initialState,
  keys,
  LeaseLostError,
  PHASES,
  portalModel,
  queueMetricsCollected,
  RateLimitedLog,
  RESULTS_QUEUE,
  settleOperation,
  StateStore,
  type Config,
  type PortalConfig,
  type Decision,
  type Logger,
  type Metrics,
  type Operation,
  type PortalModel,
  type PortalState,
  type SwitchAction,
  type TargetSite,
  type TrafficProvider,
} from '@portal-failover/shared';
import { instrumentProvider, zeroControllerMetrics } from '@portal-failover/shared';
import { executeOperation, StaleWriteError } from './executor';
import { Lease, type LeaseHold } from './lease';
import { DrillRunner } from './drills';
import { parseCheckResult } from './result-validation';
import { applyReadings, readSteps } from './reconcile';
import { ResultAdmission } from './result-admission';
import { takeoverGraceMs, viewIsCurrent } from './takeover-view';

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

interface PortalRuntime {
  model: PortalModel;
  rollbackOnFailure: boolean;
  hooks: PortalConfig['hooks'];
  providers: TrafficProvider[];
  sites: Map<string, TargetSite>;
  state: PortalState;
  persisted: string;
  lastLogged: string;
  onDrift: 'alert' | 'repair';
  lastDrift?: string;
  /** takeover-view.ts: how long a new leader waits for a current view before judging requests anyway. */
  takeoverGraceMs: number;
}

/**
 * Consumes check results, keeps per-portal state, runs the pure decision and executes operations. Every
 * controller competes for the lease; only the holder consumes results and acts, so two never both switch.
 */
export interface ControllerEvents {
  /** A decision whose analysis, phase or reason differs from the previous one (what gets logged). */
  decision: [portal: string, decision: Decision];
  /** An operation reached succeeded or failed. */
  operation: [op: Operation];
}

export class Controller extends EventEmitter<ControllerEvents> {
  private readonly log: Logger;
  private readonly warn: RateLimitedLog;
  private readonly k;
  private readonly store: StateStore;
  private readonly control: ControlStore;
  private readonly audit: AuditLog;
  /** Per-minute availability of the active site, for the public status page (written by the leader only). */
  private readonly availability: AvailabilityRecorder;
  /** Recent probe results per portal, for evidence bundles (written by the leader only). */
  private readonly probes: ProbeHistory;
  /** Scheduled drills (drills.ts); ticked by the leader only. */
  readonly drills: DrillRunner;
  private readonly lease: Lease;
  private readonly portals = new Map<string, PortalRuntime>();
  private readonly running = new Map<string, Promise<void>>();
  private worker: Worker | undefined;
  private hold: LeaseHold | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private leaseWatchdog: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private reconciling = false;
  private evalTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly now: () => number;
  private readonly resultsQueue: Queue;
  private transition: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ControllerOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.log = opts.logger.child({ component: 'controller' });
    this.warn = new RateLimitedLog(this.log);
    this.k = keys(opts.config.redis.prefix);
    this.store = new StateStore(opts.redis, this.k);
    this.control = new ControlStore(opts.redis, this.k);
    this.audit = new AuditLog(opts.redis, this.k.audit, opts.config.audit.retention, this.now, { maxEntries: opts.config.audit.maxEntries });
    this.probes = new ProbeHistory(opts.redis, opts.config.redis.prefix);
    this.drills = new DrillRunner({
      config: opts.config,
      store: this.store,
      control: this.control,
      drills: new DrillStore(opts.redis, opts.config.redis.prefix),
      audit: this.audit,
      metrics: opts.metrics,
      logger: this.log,
      now: this.now,
      state: (portal) => this.portals.get(portal)?.state,
    });
    this.availability = new AvailabilityRecorder(new AvailabilityStore(opts.redis, opts.config.redis.prefix));
    this.lease = new Lease(opts.redis, this.k, opts.config.controller.leaseTtl, opts.owner, this.now);
    this.resultsQueue = new Queue(RESULTS_QUEUE, { connection: opts.bullConnection, prefix: this.k.bull });
    this.resultsQueue.on('error', (err) => this.warn.warn('queue', `results queue: ${err.message}`));
    for (const p of opts.config.portals) {
      const model = portalModel(p);
      this.portals.set(p.id, {
        model,
        rollbackOnFailure: p.policy.rollbackOnFailure,
        hooks: p.hooks,
        providers: p.traffic.map((step) => instrumentProvider(createProvider(step, { logger: this.log }), opts.metrics)),
        sites: new Map(p.sites.map((s) => [s.name, { name: s.name, routing: s.routing }])),
        state: initialState(model),
        persisted: '',
        lastLogged: '',
        onDrift: p.policy.onDrift,
        takeoverGraceMs: takeoverGraceMs(p),
      });
    }
    opts.metrics.controllerLeader.set(0);
    zeroControllerMetrics(opts.metrics, opts.config);
    opts.metrics.auditMaxEntries.set(opts.config.audit.maxEntries);
  }

  get isLeader(): boolean {
    return this.hold !== undefined && this.lease.current !== undefined;
  }

  get owner(): string {
    return this.lease.owner;
  }

  /** An operation as stored (drills report the operations they ran by id). */
  drillOperation(id: string): Promise<Operation | undefined> {
    return this.store.loadOperation(id);
  }

  state(portal: string): PortalState | undefined {
    return this.portals.get(portal)?.state;
  }

  async start(): Promise<void> {
    await this.leaseTick();
    this.leaseTimer = setInterval(() => void this.leaseTick(), this.opts.config.controller.renewEvery);
    this.evalTimer = setInterval(() => void this.evaluateAll(), this.opts.config.controller.evaluateEvery);
    this.reconcileTimer = setInterval(() => void this.reconcileAll(), this.opts.config.controller.reconcileEvery);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.leaseTimer);
    clearInterval(this.evalTimer);
    clearTimeout(this.leaseWatchdog);
    clearInterval(this.reconcileTimer);
    await this.transition;
    // Let running operations finish and record their result while the lease is still ours; a stuck provider
    // call must not hold the shutdown forever, and whatever is left is resumed by the next leader.
    await Promise.race([Promise.allSettled([...this.running.values()]), new Promise((r) => setTimeout(r, 5_000).unref())]);
    // Release before stepping down (which forgets the hold), so a standby controller takes over at once
    // instead of waiting for the lease to expire.
    await this.lease.release().catch(() => undefined);
    await this.loseLeadership('shutting down');
    await this.resultsQueue.close();
  }

  private async leaseTick(): Promise<void> {
    if (this.stopped) return;
    this.transition = this.transition.then(async () => {
      if (this.stopped) return;
      let hold: LeaseHold | undefined;
      try {
        hold = await this.lease.tryAcquire();
      } catch (err) {
        this.warn.warn('lease', `cannot reach Redis to renew the leader lease: ${(err as Error).message}`);
        hold = this.lease.current;
      }
      this.armLeaseWatchdog();
      try {
        if (hold && !this.hold) await this.becomeLeader(hold);
        else if (!hold && this.hold) await this.loseLeadership('lease not renewed');
        else if (hold && this.hold && hold.token !== this.hold.token) {
          // Redis lost the lease (restarted empty) and this process took it again with a new token. Dropping the
          // new hold here would make every later tick acquire yet another token.
          await this.loseLeadership('lease token changed', true);
          await this.becomeLeader(hold);
        }
      } catch (err) {
        // Taking over half-way (Redis went away while loading state) is worse than not leading: step down and
        // let the next tick try again from the start.
        this.warn.warn('takeover', `leadership change failed: ${(err as Error).message}`);
        await this.loseLeadership('takeover failed').catch(() => undefined);
        await this.lease.release().catch(() => undefined);
      }
    });
    await this.transition;
  }

  /**
   * Steps down when the hold's local validity ends without a renewal, independent of the lease loop: a renewal
   * stuck on a paused Redis must not keep this process acting (and claiming failover_controller_leader 1) until
   * after the lease could have expired and another controller taken it.
   */
  private armLeaseWatchdog(): void {
    clearTimeout(this.leaseWatchdog);
    const until = this.lease.validUntilMs;
    if (!until) return;
    this.leaseWatchdog = setTimeout(() => {
      if (this.hold && !this.lease.current) void this.loseLeadership('the lease could not be renewed before its validity ended');
    }, Math.max(0, until - this.now()) + 1);
    this.leaseWatchdog.unref();
  }

  private async becomeLeader(hold: LeaseHold): Promise<void> {
    // Load every saved state before acting as leader (this.hold is what makes evaluate() and persist() act):
    // otherwise a timer tick could save the blank in-memory state over the saved one while it is being read.
    const loaded: PortalState[] = [];
    const restored: PortalRuntime[] = [];
    for (const [id, rt] of this.portals) {
      const saved = await this.store.loadState(id);
      if (!saved) {
        // Nothing recorded. If this process saved a state before, Redis lost it (restarted empty, a promotion lost
        // writes) and this memory is the best record left: write it back. Otherwise the routing is not known until
        // the traffic steps are read: no automatic switch on the assumption that the first site serves.
        if (rt.persisted !== '') restored.push(rt);
        else rt.state = { ...rt.state, unknownRouting: rt.state.unknownRouting ?? 'the traffic steps have not been read yet' };
        continue;
      }
      if (!rt.sites.has(saved.activeSite)) {
        this.log.warn(`saved active site "${saved.activeSite}" is no longer configured; assuming ${rt.model.sites[0].name}`, { portal: id });
        saved.activeSite = rt.model.sites[0].name;
      }
      loaded.push(saved);
    }
    for (const saved of loaded) {
      const rt = this.portals.get(saved.portal)!;
      rt.state = saved;
      rt.persisted = JSON.stringify(saved);
    }
    // The vantage keys (the implied one lives in Redis) before the first result is taken.
    this.admission ??= await ResultAdmission.forConfig(this.opts.config, this.opts.redis);
    this.hold = hold;
    this.leaderSince = this.now();
    this.opts.metrics.controllerLeader.set(1);
    this.log.info(`became leader with fencing token ${hold.token}`, { owner: this.lease.owner });
    for (const rt of restored) await this.restoreLost(rt);
    for (const rt of this.portals.values()) if (rt.state.inflight) await this.resume(rt, hold);
    // Provider truth, read outside the lease loop (provider reads can take seconds; renewals must not wait).
    void this.reconcileAll();
    this.worker = new Worker(RESULTS_QUEUE, async (job) => this.onResult(job.data), {
      connection: this.opts.bullConnection,
      prefix: this.k.bull,
      concurrency: 8,
      autorun: true,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 1000 },
    });
    this.worker.on('error', (err) => this.warn.warn('worker', `results worker error: ${err.message}`));
  }

  /** `keepNewHold`: the lease was just re-acquired with a new token; step down from the old one only. */
  private async loseLeadership(why: string, keepNewHold = false): Promise<void> {
    if (!this.hold) return;
    this.log.warn(`stepping down as leader: ${why}`);
    this.hold = undefined;
    if (!keepNewHold) this.lease.drop();
    const m = this.opts.metrics;
    m.controllerLeader.set(0);
    // A deposed controller must not keep exporting its last view as if it were current.
    for (const g of [m.portalPhase, m.activeSite, m.siteHealthy, m.siteReady, m.automationFrozen, m.queueJobs, m.trafficInSync]) g.reset();
    const w = this.worker;
    this.worker = undefined;
    // close(true) does not wait for active jobs: their effect on memory is discarded anyway. It still talks to
    // Redis, so it is bounded: a paused Redis must not hold up the lease loop behind it.
    await Promise.race([w?.close(true).catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
  }

  /**
   * Redis lost this portal's records while this process remembered them: write back the freeze and the
   * acknowledgement (the API's records, which the next evaluation would otherwise read as absent) and let the next
   * persist() write the state. Recorded in the audit log, never silent.
   */
  private async restoreLost(rt: PortalRuntime): Promise<void> {
    rt.persisted = '';
    const { frozen, ackedAt } = rt.state;
    if (frozen) await this.control.freeze(rt.model.id, frozen);
    if (ackedAt !== undefined) await this.control.acknowledge(rt.model.id, { at: ackedAt, actor: `controller:${this.lease.owner}`, reason: 'restored after Redis lost it' });
    const reason = `Redis lost the records of ${rt.model.id}; restored the state this controller remembered (active ${rt.state.activeSite}${frozen ? ', frozen' : ''}${ackedAt !== undefined ? ', acknowledged' : ''})`;
    this.log.warn(reason, { portal: rt.model.id });
    this.record({ type: 'state.restored', portal: rt.model.id, actor: `controller:${this.lease.owner}`, reason, data: { activeSite: rt.state.activeSite, frozen: frozen !== undefined, ackedAt, lastAutoSwitchAt: rt.state.lastAutoSwitchAt } });
  }

  /** Reads every portal's traffic steps and compares them with the record (reconcile.ts); one pass at a time. */
  private async reconcileAll(): Promise<void> {
    if (!this.isLeader || this.reconciling) return;
    this.reconciling = true;
    try {
      await Promise.all([...this.portals.values()].map((rt) => this.reconcile(rt)));
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcile(rt: PortalRuntime): Promise<void> {
    const hold = this.hold;
    // Every running operation is in flight in the state (decide, admitSwitch and resume set it).
    const busy = () => !hold || this.hold !== hold || rt.state.inflight !== undefined;
    if (busy()) return;
    const c = this.opts.config.controller;
    // Bounded per read, so a hung provider cannot keep the portal unreconciled past the lease.
    const readings = await readSteps(rt.providers, rt.model.sites.map((s) => rt.sites.get(s.name)!), Math.max(1_000, Math.floor(c.leaseTtl / 2)));
    // An operation that started while the steps were read makes the readings meaningless.
    if (busy()) return;
    const repair = applyReadings(rt, readings, { logger: this.log, metrics: this.opts.metrics, record: (e) => this.record(e), actor: `controller:${this.lease.owner}`, now: this.now });
    if (repair) this.startOperation(rt, repair, hold!, { analysis: 'Drift', sites: {} });
    this.evaluate(rt);
    await this.persist(rt);
  }

  private onResult(data: unknown): void {
    const parsed = parseCheckResult(data);
    if (typeof parsed === 'string') {
      this.opts.metrics.resultsRejected.inc({ reason: 'malformed' });
      this.warn.warn('bad-result', `ignoring malformed check result: ${parsed}`);
      return;
    }
    // Only declared vantages vote, each only with its own key, each result once (result-admission.ts).
    const admitted = this.admission?.admit(parsed, this.now());
    if (!admitted?.ok) {
      const reason = admitted?.reason ?? 'undeclared_vantage';
      this.opts.metrics.resultsRejected.inc({ reason });
      this.warn.warn(`rejected:${reason}:${parsed.vantage}`, `refused check result: ${admitted?.detail ?? 'no vantage keys loaded'}`);
      return;
    }
    const r = admitted.result;
    const rt = this.portals.get(r.portal);
    if (!rt || !rt.sites.has(r.site)) {
      this.warn.warn(`unknown:${r.portal}/${r.site}`, `ignoring result for unknown portal/site ${r.portal}/${r.site}`);
      return;
    }
    this.probes.add(r);
    rt.state = { ...rt.state, health: applyResult(rt.state.health, r, rt.model.policy) };
    this.evaluate(rt);
  }

  private evaluating = false;
  /** When this process last took the lease (takeover-view.ts). */
  private leaderSince = 0;
  private auditCountedAt = 0;
  private admission: ResultAdmission | undefined;

  private async evaluateAll(): Promise<void> {
    // A slow Redis must not stack up overlapping ticks (each would try to take the same request).
    if (!this.isLeader || this.evaluating) return;
    this.evaluating = true;
    try {
      await this.evaluateAllOnce();
    } finally {
      this.evaluating = false;
    }
  }

  private async evaluateAllOnce(): Promise<void> {
    let control: Map<string, ControlRecords> | undefined;
    try {
      control = await this.control.read([...this.portals.keys()]);
    } catch (err) {
      this.warn.warn('control', `cannot read freezes and switchover requests: ${(err as Error).message}`);
    }
    await this.resumeOrphans();
    for (const [id, rt] of this.portals) {
      const c = control?.get(id);
      if (c) {
        // Freeze and acknowledgement are owned by the API; the decision reads them through the state.
        rt.state = { ...rt.state, frozen: c.freeze, ackedAt: c.ack?.at };
      }
      const d = this.evaluate(rt);
      if (d) this.availability.sample(id, d.statuses[rt.state.activeSite]?.status, this.now());
      // Right after a takeover the loaded health predates the handover: requests wait until it is current.
      if (c?.intent && this.hold && d && viewIsCurrent(d.statuses, rt.model.sites.map((s) => s.name), this.now() - this.leaderSince, rt.takeoverGraceMs)) {
        await this.takeRequest(rt, c.intent, this.hold);
      }
    }
    await Promise.all([...this.portals.values()].map((rt) => this.persist(rt)));
    if (this.opts.config.drills.length) await this.drills.tick().catch((err: Error) => this.warn.warn('drills', `cannot start drills: ${err.message}`));
    await this.probes.flush().catch((err: Error) => this.warn.warn('probe-history', `cannot record probe results: ${err.message}`));
    await this.availability.flush(this.now()).catch((err: Error) => this.warn.warn('availability', `cannot record availability: ${err.message}`));
    if (this.now() - this.auditCountedAt >= 30_000) {
      this.auditCountedAt = this.now();
      await this.audit.count().then((n) => this.opts.metrics.auditEntries.set(n), (err: Error) => this.warn.warn('audit-count', `cannot count audit entries: ${err.message}`));
    }
    // Where the API runs in this process (all-in-one), its collector owns failover_queue_jobs and reads every queue
    // at scrape time. A standalone controller still exports the results queue's counts: the leader-filtered
    // FailoverQueueBacklog rule and "Queue jobs" panel read them from the leader's process.
    if (queueMetricsCollected(this.opts.metrics)) return;
    try {
      const counts = await this.resultsQueue.getJobCounts('waiting', 'active', 'delayed', 'failed');
      for (const [state, n] of Object.entries(counts)) this.opts.metrics.queueJobs.set({ queue: RESULTS_QUEUE, state }, n);
    } catch (err) {
      this.warn.warn('queue-counts', `cannot read queue counts: ${(err as Error).message}`);
    }
  }

  private evaluate(rt: PortalRuntime): Decision | undefined {
    const hold = this.hold;
    if (!hold) return undefined;
    const d = decide(rt.state, rt.model, this.now());
    rt.state = d.next;
    this.publish(rt, d.statuses, d.readiness);
    const logKey = `${d.analysis}|${d.phase}|${d.reason}`;
    if (logKey !== rt.lastLogged || d.actions.length) {
      rt.lastLogged = logKey;
      this.log.info(d.reason, { portal: rt.model.id, analysis: d.analysis, phase: d.phase });
      this.emit('decision', rt.model.id, d);
    }
    for (const action of d.actions) this.startOperation(rt, action, hold, evidenceOf(d.analysis, d.statuses));
    return d;
  }

  private publish(rt: PortalRuntime, statuses: Record<string, { status: string }>, readiness: Decision['readiness']): void {
    const m = this.opts.metrics;
    const portal = rt.model.id;
    for (const s of rt.model.sites) {
      const st = statuses[s.name]?.status;
      m.siteHealthy.set({ portal, site: s.name }, st === 'up' ? 1 : st === 'down' ? 0 : -1);
      m.activeSite.set({ portal, site: s.name }, s.name === rt.state.activeSite ? 1 : 0);
      m.siteReady.set({ portal, site: s.name }, readiness[s.name]?.ready ? 1 : 0);
    }
    for (const phase of PHASES) m.portalPhase.set({ portal, phase }, phase === rt.state.phase ? 1 : 0);
    m.automationFrozen.set({ portal }, rt.state.frozen ? 1 : 0);
  }

  /** Saves state (and an operation) under the fence; false when it could not, never throws. */
  private async persist(rt: PortalRuntime, operation?: Operation): Promise<boolean> {
    const hold = this.hold;
    if (!hold) return false;
    const json = JSON.stringify(rt.state);
    if (json === rt.persisted && !operation) return true;
    try {
      await this.store.fencedWrite(hold.value, { state: rt.state, operation });
      rt.persisted = json;
      return true;
    } catch (err) {
      if (err instanceof LeaseLostError) await this.loseLeadership(err.message);
      else this.warn.warn('persist', `cannot save state of ${rt.model.id}: ${(err as Error).message}`, { portal: rt.model.id });
      return false;
    }
  }

  private startOperation(rt: PortalRuntime, action: SwitchAction, hold: LeaseHold, evidence: OperationEvidence): void {
    const op: Operation = {
      id: action.operationId,
      portal: action.portal,
      from: action.from,
      to: action.to,
      trigger: action.trigger,
      reason: action.reason,
      actor: `controller:${this.lease.owner}`,
      status: 'running',
      fence: hold.token,
      detectedAt: action.detectedAt,
      decidedAt: action.decidedAt,
      resumedCount: 0,
      steps: rt.providers.map((p, index) => ({ index, kind: p.kind, label: p.label, status: 'pending', attempts: 0 })),
      evidence,
    };
    if (action.detectedAt !== undefined) {
      this.opts.metrics.detection.observe({ portal: op.portal }, Math.max(0, action.decidedAt - action.detectedAt) / 1000);
    }
    this.track(rt, op, hold, true);
  }

  private async resume(rt: PortalRuntime, hold: LeaseHold): Promise<void> {
    const id = rt.state.inflight!.operationId;
    const op = await this.store.loadOperation(id);
    if (!op) {
      // Never stored, or Redis lost it mid-switch: its steps may or may not have been applied, so where traffic
      // goes is not known from memory any more. The reconciliation that follows reads it from the providers.
      this.log.error(`operation ${id} is marked in flight but its record is missing; clearing it and reading the traffic steps`, { portal: rt.model.id });
      rt.state = { ...rt.state, inflight: undefined, unknownRouting: `operation ${id} was in flight and its record is missing` };
      return;
    }
    if (op.status !== 'running') {
      this.finish(rt, op);
      return;
    }
    // The run this process started under an earlier hold stops at its next fence check (its token is stale);
    // wait for it, so one operation never has two executors here.
    const earlier = this.running.get(op.id);
    if (earlier) await earlier;
    op.resumedCount++;
    op.fence = hold.token;
    this.log.warn(`resuming operation ${op.id} (${op.from} -> ${op.to}) left running by a previous leader`, { portal: rt.model.id });
    this.track(rt, op, hold, false);
  }

  private track(rt: PortalRuntime, op: Operation, hold: LeaseHold, isNew: boolean): void {
    if (this.running.has(op.id)) {
      this.log.error(`operation ${op.id} already has an executor in this process; not starting a second one`, { portal: op.portal });
      return;
    }
    const run = (async () => {
      try {
        if (isNew && !(await this.persist(rt, op))) {
          // Not recorded means not allowed to act: the next evaluation (or leader) decides again.
          rt.state = settleOperation(rt.state, { operationId: op.id, to: op.to, ok: false });
          return;
        }
        if (isNew) this.record({ type: 'operation.started', portal: op.portal, actor: op.actor, reason: op.reason, operation: op.id, data: { from: op.from, to: op.to, trigger: op.trigger, fence: op.fence, evidence: op.evidence } });
        const target = rt.sites.get(op.to)!;
        const done = await executeOperation(op, rt.providers, target, this.lease.guard(hold), {
          attempts: this.opts.config.controller.stepAttempts,
          backoffMs: this.opts.config.controller.stepBackoff,
          logger: this.log,
          save: (o) => this.saveUntilLeaseEnds(hold, o),
          now: this.now,
          rollbackTo: rt.rollbackOnFailure ? rt.sites.get(op.from) : undefined,
          hooks: rt.hooks,
        });
        this.finish(rt, done);
        // Re-evaluate before saving so the stored phase already reflects the outcome.
        this.evaluate(rt);
        if (!(await this.persist(rt, done))) this.log.warn(`operation ${op.id} finished but its result could not be saved`, { portal: op.portal });
      } catch (err) {
        if (err instanceof LeaseLostError) {
          this.log.warn(`operation ${op.id} interrupted: ${err.message}; the next leader resumes it`, { portal: op.portal });
          if (err instanceof StaleWriteError) {
            this.record({ type: 'operation.interrupted', portal: op.portal, actor: op.actor, operation: op.id, reason: err.message, data: { fence: hold.token, step: err.step, write: err.plan.description, request: err.plan.request, mayHaveLanded: true } });
          }
          // Only the hold this run started under steps down: a newer hold of this process is not this run's to end.
          if (this.hold?.value === hold.value) await this.loseLeadership(err.message);
        } else {
          this.log.error(`operation ${op.id} crashed: ${(err as Error).message}`, { portal: op.portal });
        }
      } finally {
        this.running.delete(op.id);
      }
    })();
    this.running.set(op.id, run);
  }

  /**
   * Saves an operation's progress, retrying through Redis errors for as long as this hold is valid: a Redis blip
   * in the middle of a switch delays it instead of abandoning it half-done (it is never executed without its
   * progress on record). Once the hold's validity ends it gives up with LeaseLostError, and whoever leads next
   * resumes the operation from what was saved.
   */
  private async saveUntilLeaseEnds(hold: LeaseHold, op: Operation): Promise<void> {
    for (;;) {
      if (this.lease.current?.value !== hold.value) throw new LeaseLostError(`lease with fencing token ${hold.token} is no longer held; operation ${op.id} not saved`);
      try {
        await this.store.fencedWrite(hold.value, { operation: op });
        return;
      } catch (err) {
        if (err instanceof LeaseLostError) throw err;
        this.warn.warn(`save:${op.id}`, `cannot save operation ${op.id}, retrying: ${(err as Error).message}`, { portal: op.portal });
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /**
   * No portal stays failing_over with nothing running: an operation in flight in the state that no task of this
   * leader runs (its task crashed on a Redis error, or the resume at takeover could not read it) is resumed.
   */
  private async resumeOrphans(): Promise<void> {
    const hold = this.hold;
    if (!hold) return;
    for (const rt of this.portals.values()) {
      const id = rt.state.inflight?.operationId;
      if (id === undefined || this.running.has(id)) continue;
      try {
        await this.resume(rt, hold);
      } catch (err) {
        this.warn.warn(`orphan:${id}`, `cannot resume operation ${id} yet: ${(err as Error).message}`, { portal: rt.model.id });
      }
    }
  }

  /** Takes a switchover request from the API or Alertmanager: re-checks the runbook rules, then runs it. */
  private async takeRequest(rt: PortalRuntime, intent: NonNullable<ControlRecords['intent']>, hold: LeaseHold): Promise<void> {
    const pending = intent.operation;
    if (this.running.has(pending.id)) return;
    const now = this.now();
    const adm = admitSwitch(
      rt.state,
      rt.model,
      { operationId: pending.id, trigger: pending.trigger, to: pending.to || undefined, expectFrom: pending.expectFrom, force: pending.force ?? false },
      now,
    );
    const evidence = evidenceOf(adm.ok ? 'Requested' : 'RequestRejected', adm.statuses);
    try {
      if (!adm.ok) {
        const op: Operation = { ...pending, status: 'rejected', error: adm.reason, decidedAt: now, finishedAt: now, fence: hold.token, evidence };
        await this.control.takeIntent(hold.value, rt.model.id, intent.raw, { operation: op });
        this.log.warn(`${pending.trigger} switchover ${op.id} rejected: ${adm.reason}`, { portal: op.portal });
        this.record({ type: 'operation.rejected', portal: op.portal, actor: op.actor, client: op.client, reason: op.reason, operation: op.id, data: { why: adm.reason, to: pending.to || undefined, evidence } });
        this.emit('operation', op);
        return;
      }
      const op: Operation = {
        ...pending,
        from: adm.from,
        to: adm.to,
        status: 'running',
        fence: hold.token,
        decidedAt: now,
        evidence,
        steps: rt.providers.map((p, index) => ({ index, kind: p.kind, label: p.label, status: 'pending', attempts: 0 })),
      };
      const before = rt.state;
      rt.state = adm.next;
      const json = JSON.stringify(rt.state);
      if (!(await this.control.takeIntent(hold.value, rt.model.id, intent.raw, { stateJson: json, operation: op }))) {
        rt.state = before;
        return;
      }
      rt.persisted = json;
      this.log.info(adm.reason, { portal: op.portal, operation: op.id, actor: op.actor });
      this.record({ type: 'operation.started', portal: op.portal, actor: op.actor, client: op.client, reason: op.reason, operation: op.id, data: { from: op.from, to: op.to, trigger: op.trigger, force: op.force ?? false, fence: op.fence, decision: adm.reason, evidence } });
      this.track(rt, op, hold, false);
    } catch (err) {
      if (err instanceof LeaseLostError) await this.loseLeadership(err.message);
      else this.warn.warn('intent', `cannot take switchover request ${pending.id}: ${(err as Error).message}`, { portal: rt.model.id });
    }
  }

  /** Audit writes never block or fail an operation; a lost entry is logged instead. */
  private record(entry: NewAuditEntry): void {
    this.audit.append(entry).catch((err: Error) => this.warn.warn('audit', `cannot write audit entry ${entry.type}: ${err.message}`));
  }

  private finish(rt: PortalRuntime, op: Operation): void {
    rt.state = settleOperation(rt.state, { operationId: op.id, to: op.to, ok: op.status === 'succeeded' });
    const m = this.opts.metrics;
    m.switchovers.inc({ portal: op.portal, from: op.from, to: op.to, trigger: op.trigger, result: op.status === 'succeeded' ? 'success' : op.status === 'rejected' ? 'rejected' : 'failed' });
    if (op.status === 'succeeded' && op.finishedAt) {
      m.switchDuration.observe({ portal: op.portal, trigger: op.trigger }, Math.max(0, op.finishedAt - op.decidedAt) / 1000);
      m.lastSwitch.set({ portal: op.portal }, op.finishedAt / 1000);
    }
    const msg = op.status === 'succeeded' ? `switched ${op.from} -> ${op.to}, verified` : `switch ${op.from} -> ${op.to} ${op.status === 'rejected' ? 'rejected' : 'failed'}: ${op.error}`;
    this.log[op.status === 'succeeded' ? 'info' : 'error'](msg, { portal: op.portal, operation: op.id, trigger: op.trigger });
    const stepSummary = op.steps.map((st) => ({
      step: st.index + 1,
      provider: st.label,
      status: st.status,
      attempts: st.attempts,
      change: st.plan?.description,
      request: st.plan?.request,
      verified: st.verified,
      error: st.error,
      ms: st.startedAt !== undefined && st.finishedAt !== undefined ? st.finishedAt - st.startedAt : undefined,
    }));
    this.record({
      type: 'operation.finished',
      portal: op.portal,
      actor: op.actor,
      reason: op.reason,
      operation: op.id,
      data: {
        result: op.status,
        error: op.error,
        from: op.from,
        to: op.to,
        trigger: op.trigger,
        force: op.force ?? false,
        durationsMs: {
          detect: op.detectedAt !== undefined ? op.decidedAt - op.detectedAt : undefined,
          queued: op.requestedAt !== undefined ? op.decidedAt - op.requestedAt : undefined,
          switch: op.finishedAt !== undefined ? op.finishedAt - op.decidedAt : undefined,
        },
        steps: stepSummary,
      },
    });
    this.emit('operation', op);
  }
}

function evidenceOf(analysis: string, statuses: Record<string, SiteStatus>): OperationEvidence {
  const sites: OperationEvidence['sites'] = {};
  for (const [name, st] of Object.entries(statuses)) {
    sites[name] = { status: st.status, vantages: st.vantages.map((v) => ({ vantage: v.vantage, verdict: v.verdict, failingSince: v.failingSince, detail: v.detail })) };
  }
  return { analysis, sites };
}
