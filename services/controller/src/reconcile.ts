import {
  beginOperation,
  mapInLanes,
  reconcileRouting,
  type Logger,
  type Metrics,
  type NewAuditEntry,
  type PortalModel,
  type PortalState,
  type StepReading,
  type SwitchAction,
  type TargetSite,
  type TrafficProvider,
} from '@portal-failover/shared';

/** What reconciliation needs of a portal's runtime in the controller (PortalRuntime has these fields). */
export interface ReconcilePortal {
  model: PortalModel;
  providers: TrafficProvider[];
  sites: Map<string, TargetSite>;
  onDrift: 'alert' | 'repair';
  state: PortalState;
  /** The drift last reported, so one drift is audited once, not on every pass. */
  lastDrift?: string;
}

export interface ReconcileDeps {
  logger: Logger;
  metrics: Pick<Metrics, 'trafficInSync'>;
  record: (entry: NewAuditEntry) => void;
  actor: string;
  now: () => number;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads every traffic step and says which configured sites its current value routes to. A step "routes to" a
 * site when plan() for that site has nothing to change apart from the TTL (a risk window may have lowered it):
 * the provider's own comparison, so every kind of step is judged the way it would be written.
 */
export async function readSteps(providers: TrafficProvider[], sites: TargetSite[], timeoutMs: number): Promise<StepReading[]> {
  return Promise.all(
    providers.map(async (p): Promise<StepReading> => {
      try {
        const current = await withTimeout(p.read(), timeoutMs, p.label);
        const loose = { ...current, ttl: undefined };
        const pointsAt = sites
          .filter((s) => {
            try {
              return !p.plan(loose, s).changes;
            } catch {
              return false; // the site cannot be written to this step at all
            }
          })
          .map((s) => s.name);
        return { step: p.label, pointsAt, observed: current.values.length ? current.values.join(' ') : (current.detail ?? 'no value') };
      } catch (err) {
        return { step: p.label, observed: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}

/**
 * Provider truth wins over memory (DESIGN, "Reconcile, don't remember"): compares what the traffic steps route to
 * (readSteps) with the recorded active site and updates the portal's state. Returns a repair switch to start when
 * the recorded site should be put back (policy.onDrift: repair); the caller runs it through the normal fenced,
 * verified, audited operation path. The caller guarantees no operation of this portal ran while it read the steps.
 */
export function applyReadings(rt: ReconcilePortal, readings: StepReading[], deps: ReconcileDeps): SwitchAction | undefined {
  const portal = rt.model.id;
  const recorded = rt.state.unknownRouting === undefined ? rt.state.activeSite : undefined;
  const v = reconcileRouting({ recorded, readings, sitesInPriority: rt.model.sites.map((s) => s.name), onDrift: rt.onDrift });
  readings.forEach((r, i) => deps.metrics.trafficInSync.set({ portal, step: r.step }, v.sync[i]));
  const log = deps.logger.child({ portal });
  const now = deps.now();
  switch (v.kind) {
    case 'adopt': {
      const primary = rt.model.sites[0].name;
      // The cooldown of a switch Redis forgot is unknown: serving from a non-primary site means one happened, so the
      // anti-flap block starts now rather than never (an acknowledgement lifts it).
      const cooldownStartedAt = rt.state.cooldownStartedAt ?? (v.site !== primary ? now : undefined);
      rt.state = { ...rt.state, activeSite: v.site, unknownRouting: undefined, cooldownStartedAt };
      rt.lastDrift = undefined;
      log.info(v.reason);
      deps.record({ type: 'routing.adopted', portal, actor: deps.actor, reason: v.reason, data: { site: v.site, steps: readings, cooldownFrom: cooldownStartedAt } });
      return undefined;
    }
    case 'unknown_routing':
      if (rt.state.unknownRouting !== v.reason) {
        log.warn(v.reason);
        deps.record({ type: 'routing.unknown', portal, actor: deps.actor, reason: v.reason, data: { steps: readings } });
      }
      rt.state = { ...rt.state, unknownRouting: v.reason };
      return undefined;
    case 'in_sync':
      if (rt.lastDrift !== undefined) log.info(`traffic is back on the recorded site ${rt.state.activeSite}`);
      rt.lastDrift = undefined;
      return undefined;
    case 'unreadable':
      log.warn(v.reason);
      return undefined;
    case 'drift': {
      const key = `${v.recorded}|${v.observed}`;
      if (rt.lastDrift !== key) {
        rt.lastDrift = key;
        log.warn(`${v.reason}; policy.onDrift is ${rt.onDrift}`);
        deps.record({ type: 'drift.detected', portal, actor: deps.actor, reason: v.reason, data: { recorded: v.recorded, observed: v.observed, steps: readings, onDrift: rt.onDrift } });
      }
      if (!v.repair || rt.state.frozen || rt.state.inflight) return undefined;
      const operationId = `${portal}-${now.toString(36)}-repair`;
      const reason = `repairing drift: ${v.reason}; re-applying the recorded site ${v.recorded}`;
      rt.state = beginOperation(rt.state, { operationId, from: v.recorded, to: v.recorded, trigger: 'auto', since: now });
      return { type: 'switch', operationId, portal, from: v.recorded, to: v.recorded, trigger: 'auto', reason, decidedAt: now };
    }
  }
}

/** Portals whose traffic steps are read at the same time. */
const RECONCILE_LANES = 128;

/**
 * Runs reconciliation for every portal, one pass at a time, only while leading and only for a portal with no
 * operation in flight (an operation that starts while the steps are read makes the readings meaningless).
 */
export class Reconciler<P extends ReconcilePortal> {
  private reconciling = false;

  constructor(
    private readonly d: {
      portals: ReadonlyMap<string, P>;
      leader: { readonly current: { value: string } | undefined; readonly isLeader: boolean };
      /** Per step read, so a hung provider cannot keep the portal unreconciled past the lease. */
      readTimeoutMs: number;
      deps: ReconcileDeps;
      /** Starts the repair switch applyReadings asked for (it already marked it in flight in the state). */
      repair: (rt: P, action: SwitchAction) => void;
      /** Re-evaluate and save the portal after its readings were applied. */
      after: (rt: P) => Promise<void>;
    },
  ) {}

  async all(): Promise<void> {
    if (!this.d.leader.isLeader || this.reconciling) return;
    this.reconciling = true;
    try {
      // A bounded number at a time: 12,500 portals read at once held the event loop (and the lease renewals) for seconds.
      await mapInLanes([...this.d.portals.values()], RECONCILE_LANES, (rt) => this.one(rt));
    } finally {
      this.reconciling = false;
    }
  }

  private async one(rt: P): Promise<void> {
    const hold = this.d.leader.current;
    // Every running operation is in flight in the state (decide, admitSwitch and resume set it).
    const busy = () => !hold || this.d.leader.current !== hold || rt.state.inflight !== undefined;
    if (busy()) return;
    const readings = await readSteps(rt.providers, rt.model.sites.map((s) => rt.sites.get(s.name)!), this.d.readTimeoutMs);
    if (busy()) return;
    const repair = applyReadings(rt, readings, this.d.deps);
    if (repair) this.d.repair(rt, repair);
    await this.d.after(rt);
  }
}
