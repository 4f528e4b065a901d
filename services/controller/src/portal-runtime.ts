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
  type TargetSite,
  type TrafficProvider,
} from '@portal-failover/shared';
import { takeoverGraceMs } from './takeover-view';

/** What the controller holds for one portal: its model and providers, and its state (see controller.ts on who changes it). */
export interface PortalRuntime {
  model: PortalModel;
  rollbackOnFailure: boolean;
  hooks: PortalConfig['hooks'];
  providers: TrafficProvider[];
  sites: Map<string, TargetSite>;
  state: PortalState;
  /** The JSON last written to Redis, so an unchanged state is not written again ('' = never written by this process). */
  persisted: string;
  /** The last decision logged, so a repeated one is not logged again. */
  lastLogged: string;
  onDrift: 'alert' | 'repair';
  /** The drift last reported, so one drift is audited once (reconcile.ts). */
  lastDrift?: string;
  /** takeover-view.ts: how long a new leader waits for a current view before judging requests anyway. */
  takeoverGraceMs: number;
}

export function portalRuntimes(config: Config, logger: Logger, metrics: Metrics): Map<string, PortalRuntime> {
  const portals = new Map<string, PortalRuntime>();
  for (const p of config.portals) {
    const model = portalModel(p);
    portals.set(p.id, {
      model,
      rollbackOnFailure: p.policy.rollbackOnFailure,
      hooks: p.hooks,
      providers: p.traffic.map((step) => instrumentProvider(createProvider(step, { logger }), metrics)),
      sites: new Map(p.sites.map((s) => [s.name, { name: s.name, routing: s.routing }])),
      state: initialState(model),
      persisted: '',
      lastLogged: '',
      onDrift: p.policy.onDrift,
      takeoverGraceMs: takeoverGraceMs(p),
    });
  }
  return portals;
}
