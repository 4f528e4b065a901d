import { siteStatus, type SiteStatus } from './health';
import { portalReadiness, type Readiness } from './readiness';
import type { PortalModel, PortalState } from './state';

/** A named reading of the observations, as orchestrator names DeadMaster or UnreachableMaster. */
export type Analysis =
  | 'NoData'
  | 'ActiveHealthy'
  | 'ActiveUnconfirmed'
  | 'ActiveDownOnSomeVantages'
  | 'ActiveDown'
  | 'AllDown'
  | 'NoReadyTarget'
  | 'PreferredRecovered';

/** Which analyses may move traffic, and what automatic action each one calls for. */
export const ANALYSIS_TABLE: Record<Analysis, { actionable: boolean; move?: 'failover' | 'failback' }> = {
  NoData: { actionable: false },
  ActiveHealthy: { actionable: false },
  ActiveUnconfirmed: { actionable: false },
  ActiveDownOnSomeVantages: { actionable: false },
  ActiveDown: { actionable: true, move: 'failover' },
  AllDown: { actionable: false },
  /** Other sites are healthy but none passes its readiness checks: do not switch to a standby that is not ready. */
  NoReadyTarget: { actionable: false },
  PreferredRecovered: { actionable: true, move: 'failback' },
};

export interface Classification {
  analysis: Analysis;
  statuses: Record<string, SiteStatus>;
  active: SiteStatus;
  readiness: Record<string, Readiness>;
  /** The site an actionable analysis would move traffic to; always a site that is up by quorum and ready. */
  target?: string;
}

export function classify(state: PortalState, model: PortalModel, now: number): Classification {
  const statuses: Record<string, SiteStatus> = {};
  for (const s of model.sites) statuses[s.name] = siteStatus(state.health, s.name, s.checkNames, model.policy, now);
  const readiness = portalReadiness(state.health, model, now);
  const active = statuses[state.activeSite] ?? statuses[model.sites[0].name];
  const healthyOthers = model.sites.filter((s) => s.name !== active.site && statuses[s.name].status === 'up' && statuses[s.name].steady).map((s) => s.name);
  const eligible = healthyOthers.filter((name) => readiness[name].ready);
  const base = { statuses, active, readiness };

  if (!active.hasData) return { analysis: 'NoData', ...base };
  if (active.status === 'down') {
    if (eligible.length) return { analysis: 'ActiveDown', ...base, target: eligible[0] };
    return { analysis: healthyOthers.length ? 'NoReadyTarget' : 'AllDown', ...base };
  }
  if (active.down.length > 0) return { analysis: 'ActiveDownOnSomeVantages', ...base };
  if (active.status === 'unknown') return { analysis: 'ActiveUnconfirmed', ...base };
  const activeRank = model.sites.findIndex((s) => s.name === active.site);
  const preferred = model.sites.slice(0, Math.max(activeRank, 0)).find((s) => statuses[s.name].status === 'up' && statuses[s.name].steady && readiness[s.name].ready);
  if (preferred) return { analysis: 'PreferredRecovered', ...base, target: preferred.name };
  return { analysis: 'ActiveHealthy', ...base };
}
