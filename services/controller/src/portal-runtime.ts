import {
  createProvider,
  initialState,
  instrumentProvider,
  portalModel,
  type Config,
  type Logger,
  type Metrics,
  type PortalConfig,
  type PortalModel,
  type PortalState,
  stepTtl,
  type RiskWindow,
  type TargetSite,
  type TrafficProvider,
} from '@portal-failover/shared';
import { takeoverGraceMs } from './takeover-view';

/** What the controller holds for one portal: its model and providers, and its state (see controller.ts on who changes it). */
export interface PortalRuntime {
  model: PortalModel;
  rollbackOnFailure: boolean;
  hooks: PortalConfig['hooks'];
  /**
   * The traffic steps as they write now: with the configured TTLs, or with the TTL a risk window lowered them to
   * (`state.ttlLowered`), so a switch during a window keeps the low TTL instead of undoing it.
   */
  readonly providers: TrafficProvider[];
  /** The traffic steps writing with DNS TTLs at most `ttl` seconds (risk-windows.ts); undefined: as configured. */
  providersWithTtl(ttl: number | undefined): TrafficProvider[];
  /** The TTL step `index` writes under providersWithTtl(ttl); undefined for a step without one (load balancers). */
  ttlOfStep(index: number, ttl: number | undefined): number | undefined;
  /** Announced cuts from the config file; the API's are read from Redis each tick (risk-windows.ts). */
  configWindows: RiskWindow[];
  /** A TTL change for a risk window in progress: a switch starts only after it (operation-runner.ts). */
  ttlChange?: Promise<void>;
  sites: Map<string, TargetSite>;
  state: PortalState;
  /** The JSON last written to Redis, so an unchanged state is not written again ('' = never written by this process). */
  persisted: string;
  /**
   * The state object `persisted` was made from. States are replaced, never edited, so while `state` is this very
   * object there is nothing to save and nothing to stringify (12,500 portals every tick add up).
   */
  persistedState?: PortalState;
  /** What publishPortal last exported for this portal, so unchanged gauges are not set again ('' = nothing yet). */
  published: string;
  /** The last decision logged, so a repeated one is not logged again. */
  lastLogged: string;
  onDrift: 'alert' | 'repair';
  /** The drift last reported, so one drift is audited once (reconcile.ts). */
  lastDrift?: string;
  /** takeover-view.ts: how long a new leader waits for a current view before judging requests anyway. */
  takeoverGraceMs: number;
  /** When evaluate() last ran for this portal (results, the tick, operations), and the active site's status then. */
  evaluatedAt: number;
  activeStatus?: string;
  /**
   * How long the evaluation tick may leave a portal alone that nothing happened to (no operation, request, control
   * change): half its shortest check interval, at least the tick's period, at most 5 s. A portal's results evaluate
   * it anyway; the tick is there for what time alone changes (staleness, cooldowns, freezes ending), and at 12,500
   * portals deciding each one twice a second was most of the leader's allocations.
   */
  quietEvaluateMs: number;
}

/** See PortalRuntime.quietEvaluateMs. */
export function quietEvaluateMs(p: PortalConfig, evaluateEvery: number): number {
  let shortest = Number.POSITIVE_INFINITY;
  for (const s of p.sites) for (const c of [...s.checks, ...s.readiness]) shortest = Math.min(shortest, c.interval);
  return Math.max(evaluateEvery, Math.min(QUIET_EVALUATE_MAX_MS, Math.floor(shortest / 2)));
}

const QUIET_EVALUATE_MAX_MS = 5_000;

export function portalRuntimes(config: Config, logger: Logger, metrics: Metrics): Map<string, PortalRuntime> {
  const portals = new Map<string, PortalRuntime>();
  for (const p of config.portals) {
    const model = portalModel(p);
    const ttlOfStep = (index: number, ttl: number | undefined): number | undefined => (p.traffic[index] ? stepTtl(p.traffic[index], ttl) : undefined);
    const build = (ttl: number | undefined) =>
      p.traffic.map((step, i) => {
        const written = ttlOfStep(i, ttl);
        return instrumentProvider(createProvider(written === undefined ? step : { ...step, ttl: written }, { logger }), metrics);
      });
    const byTtl = new Map<number | undefined, TrafficProvider[]>();
    const providersWithTtl = (ttl: number | undefined): TrafficProvider[] => {
      let list = byTtl.get(ttl);
      if (!list) byTtl.set(ttl, (list = build(ttl)));
      return list;
    };
    portals.set(p.id, {
      model,
      rollbackOnFailure: p.policy.rollbackOnFailure,
      hooks: p.hooks,
      get providers() {
        return providersWithTtl(this.state.ttlLowered?.ttl);
      },
      providersWithTtl,
      ttlOfStep,
      configWindows: p.riskWindows,
      sites: new Map(p.sites.map((s) => [s.name, { name: s.name, routing: s.routing }])),
      state: initialState(model),
      persisted: '',
      published: '',
      lastLogged: '',
      onDrift: p.policy.onDrift,
      takeoverGraceMs: takeoverGraceMs(p),
      evaluatedAt: 0,
      quietEvaluateMs: quietEvaluateMs(p, config.controller.evaluateEvery),
    });
  }
  return portals;
}
