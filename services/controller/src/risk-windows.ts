import {
  LeaseLostError,
  siteReadiness,
  ttlAction,
  ttlTarget,
  windowInForce,
  windowPhase,
  type FenceGuard,
  type Logger,
  type Metrics,
  type NewAuditEntry,
  type RateLimitedLog,
  type RiskWindow,
  type RiskWindowPhase,
  type RiskWindowStore,
  type TargetSite,
  type TrafficProvider,
} from '@portal-failover/shared';
import { fencedApply } from './executor';
import type { Lease, LeaseHold } from './lease';
import type { PortalRuntime } from './portal-runtime';

/**
 * The leader's side of risk windows (core/risk-windows.ts has the rules). Every evaluation tick it reads the
 * API's windows, and per portal: reports each window's phase (metric; audited when it changes), and when the
 * TTL the DNS steps should hold differs from what the state says they hold, changes it: for each DNS step, read,
 * plan the active site's value with the new TTL, write under the lease, read back; then the state records it.
 * No traffic moves (the value written is the active site's). It never runs while an operation is in flight, and
 * a switch decided meanwhile waits for it (`rt.ttlChange`, operation-runner.ts). Level-triggered: a failed or
 * interrupted change is tried again on a later tick, by this leader or the next.
 */
export interface RiskWindowDeps {
  portals: ReadonlyMap<string, PortalRuntime>;
  store: RiskWindowStore;
  lease: Lease;
  metrics: Metrics;
  log: Logger;
  warn: RateLimitedLog;
  record: (entry: NewAuditEntry) => void;
  actor: string;
  now: () => number;
  /** Saves the portal's state under the fence (evaluation.ts); false when it could not. */
  persist: (rt: PortalRuntime) => Promise<boolean>;
}

/** After a failed TTL change, the next try waits this long (a DNS server that refuses should not be hammered). */
const RETRY_AFTER_MS = 5_000;

export class RiskWindowKeeper {
  /** The API's windows as last read; kept when a read fails, so a Redis blip does not end a window. */
  private apiWindows = new Map<string, RiskWindow[]>();
  /** Each known window's phase as last seen, so a change is audited once; windows gone from every list drop out. */
  private phases = new Map<string, RiskWindowPhase>();
  private readonly retryAt = new Map<string, number>();
  /**
   * The failover_risk_window_in_force series this process set on its last tick. A window withdrawn through the
   * API (or gone from a reloaded config) would otherwise keep its last value, 1 if it was in force: the dashboard
   * would draw it forever and FailoverRiskWindowNotPrepared would fire once the TTL is restored.
   */
  private exported = new Map<string, { portal: string; window: string }>();
  /** Read at the next tick whatever ControlChanges says: before the first read succeeded and after a failed one. */
  private mustRead = true;

  constructor(private readonly d: RiskWindowDeps) {}

  /** Every window of a portal: the config file's and the API's. */
  windows(rt: PortalRuntime): RiskWindow[] {
    // Called for every portal at every tick; most have no announced window, and then no copy is needed.
    const announced = this.apiWindows.get(rt.model.id);
    return announced?.length ? [...rt.configWindows, ...announced] : rt.configWindows;
  }

  /** The name of the window in force for the portal now (the one whose TTL applies), if any. */
  inForce(portal: string): string | undefined {
    const rt = this.d.portals.get(portal);
    return rt ? ttlTarget(this.windows(rt), this.d.now())?.window : undefined;
  }

  /** `read`: the announced windows may have changed (ControlChanges); otherwise the last read stands. */
  async tick(hold: LeaseHold, read = true): Promise<void> {
    const { d } = this;
    if (read || this.mustRead) {
      try {
        this.apiWindows = await d.store.listMany([...d.portals.keys()]);
        this.mustRead = false;
      } catch (err) {
        this.mustRead = true;
        d.warn.warn('risk-windows', `cannot read the announced risk windows, keeping the last read: ${(err as Error).message}`);
      }
    }
    const now = d.now();
    const exported = new Map<string, { portal: string; window: string }>();
    const phases = new Map<string, RiskWindowPhase>();
    for (const rt of d.portals.values()) {
      const windows = this.windows(rt);
      for (const w of windows) exported.set(`${rt.model.id}|${w.name}`, { portal: rt.model.id, window: w.name });
      this.reportPhases(rt, windows, now, phases);
      const action = ttlAction(rt.state.ttlLowered, windows, now);
      if (action.kind === 'none' || rt.ttlChange || rt.state.inflight || rt.state.unknownRouting !== undefined) continue;
      if ((this.retryAt.get(rt.model.id) ?? 0) > now) continue;
      const ttl = action.kind === 'lower' ? action.ttl : undefined;
      const window = action.kind === 'lower' ? action.window : action.from.window;
      rt.ttlChange = this.change(rt, ttl, window, hold).finally(() => (rt.ttlChange = undefined));
    }
    for (const [key, labels] of this.exported) if (!exported.has(key)) d.metrics.riskWindowInForce.remove(labels);
    this.exported = exported;
    this.phases = phases;
  }

  /** Metric per window, and one audit entry each time a window changes phase (seen by this process). */
  private reportPhases(rt: PortalRuntime, windows: readonly RiskWindow[], now: number, next: Map<string, RiskWindowPhase>): void {
    const portal = rt.model.id;
    for (const w of windows) {
      const phase = windowPhase(w, now);
      this.d.metrics.riskWindowInForce.set({ portal, window: w.name }, windowInForce(w, now) ? 1 : 0);
      const key = `${portal}|${w.name}|${w.startsAt}`;
      const was = this.phases.get(key);
      next.set(key, phase);
      if (was === phase) continue;
      // A window seen for the first time already scheduled (or long over) is not news.
      if (was === undefined && (phase === 'scheduled' || phase === 'ended')) continue;
      const standby = rt.model.sites.find((s) => s.name !== rt.state.activeSite)?.name;
      // "Re-verifies the standby's readiness": what readiness says about the standby as the window opens.
      const readiness = standby ? siteReadiness(rt.state.health, rt.model, standby, now) : undefined;
      const reason = `risk window "${w.name}" (${w.start}) is ${phase}${readiness ? `; ${readiness.reason}` : ''}`;
      this.d.log[readiness && !readiness.ready && phase !== 'ended' ? 'warn' : 'info'](reason, { portal });
      this.d.record({ type: 'risk-window.phase', portal, actor: this.d.actor, reason, data: { window: w.name, start: w.start, phase, source: w.source, standby: readiness } });
    }
  }

  /** Writes every DNS step with `ttl` (undefined: the configured TTLs), verifies, records it in the state. */
  private async change(rt: PortalRuntime, ttl: number | undefined, window: string, hold: LeaseHold): Promise<void> {
    const { d } = this;
    const portal = rt.model.id;
    const site = rt.sites.get(rt.state.activeSite);
    if (!site) return;
    const fence = d.lease.guard(hold);
    const providers = rt.providersWithTtl(ttl);
    const what = ttl === undefined ? `restoring the configured TTLs after risk window "${window}"` : `lowering DNS TTLs to ${ttl}s for risk window "${window}"`;
    const steps: { step: string; from?: number; to?: number; changed: boolean }[] = [];
    try {
      for (const [i, p] of providers.entries()) {
        const expected = rt.ttlOfStep(i, ttl);
        if (expected === undefined) continue;
        steps.push(await this.one(p, site, fence, expected));
      }
    } catch (err) {
      if (err instanceof LeaseLostError) {
        d.log.warn(`${what} interrupted: ${err.message}`, { portal });
        return;
      }
      this.retryAt.set(portal, d.now() + RETRY_AFTER_MS);
      const reason = `${what} failed: ${(err as Error).message}`;
      d.warn.warn(`risk-ttl:${portal}`, reason, { portal });
      d.record({ type: 'risk-window.ttl', portal, actor: d.actor, reason, data: { window, ttl: ttl ?? 'configured', result: 'failed', steps, fence: hold.token } });
      return;
    }
    this.retryAt.delete(portal);
    rt.state = { ...rt.state, ttlLowered: ttl === undefined ? undefined : { ttl, window, at: d.now() } };
    d.metrics.dnsTtlLowered.set({ portal }, ttl ?? 0);
    if (!(await d.persist(rt))) d.warn.warn(`risk-ttl-save:${portal}`, `${what}: done, but the state could not be saved; the next tick saves it`, { portal });
    d.log.info(`${what}: verified on ${steps.length} DNS step(s)`, { portal });
    d.record({ type: 'risk-window.ttl', portal, actor: d.actor, reason: what, data: { window, ttl: ttl ?? 'configured', result: 'verified', steps, site: site.name, fence: hold.token } });
  }

  /** One DNS step: writes the active site's value with the TTL `expected`, and reads both back. */
  private async one(p: TrafficProvider, site: TargetSite, fence: FenceGuard, expected: number) {
    await fence.assertHeld();
    const before = await p.read();
    const plan = p.plan(before, site);
    if (plan.changes) await fencedApply(p, plan, fence, this.d.now, { logger: this.d.log });
    const after = await p.read();
    // Both, explicitly: a value that moved would be a switch nobody asked for, and a TTL is the point of the change.
    if (p.plan(after, site).changes || after.ttl !== expected) {
      throw new Error(`${p.label}: read back ${after.values.join(' ') || 'no value'} ttl ${after.ttl ?? '?'}, not ${site.name}'s value with ttl ${expected}`);
    }
    return { step: p.label, from: before.ttl, to: after.ttl, changed: plan.changes };
  }
}
