import { siteStatus, type SiteStatus } from './health';
import type { PortalModel, PortalState } from './state';

/** A named reading of the observations, as orchestrator names DeadMaster or UnreachableMaster. */
export type Analysis =
  | 'NoData'
  | 'ActiveHealthy'
  | 'ActiveUnconfirmed'
  | 'ActiveDownOnSomeVantages'
  | 'ActiveDown'
  | 'AllDown'
  | 'PreferredRecovered';

/** Which analyses may move traffic, and what automatic action each one calls for. */
export const ANALYSIS_TABLE: Record<Analysis, { actionable: boolean; move?: 'failover' | 'failback' }> = {
  NoData: { actionable: false },
  ActiveHealthy: { actionable: false },
  ActiveUnconfirmed: { actionable: false },
  ActiveDownOnSomeVantages: { actionable: false },
  ActiveDown: { actionable: true, move: 'failover' },
  AllDown: { actionable: false },
  PreferredRecovered: { actionable: true, move: 'failback' },
};

export interface Classification {
  analysis: Analysis;
  statuses: Record<string, SiteStatus>;
  active: SiteStatus;
  /** The site an actionable analysis would move traffic to; always a site that is up by quorum. */
  target?: string;
}

export function classify(state: PortalState, model: PortalModel, now: number): Classification {
  const statuses: Record<string, SiteStatus> = {};
  for (const s of model.sites) statuses[s.name] = siteStatus(state.health, s.name, s.checkNames, model.policy, now);
  const active = statuses[state.activeSite] ?? statuses[model.sites[0].name];
  const healthyOthers = model.sites.filter((s) => s.name !== active.site && statuses[s.name].status === 'up').map((s) => s.name);

  if (!active.hasData) return { analysis: 'NoData', statuses, active };
  if (active.status === 'down') {
    return healthyOthers.length
      ? { analysis: 'ActiveDown', statuses, active, target: healthyOthers[0] }
      : { analysis: 'AllDown', statuses, active };
  }
  if (active.down.length > 0) return { analysis: 'ActiveDownOnSomeVantages', statuses, active };
  if (active.status === 'unknown') return { analysis: 'ActiveUnconfirmed', statuses, active };
  const activeRank = model.sites.findIndex((s) => s.name === active.site);
  const preferred = model.sites.slice(0, Math.max(activeRank, 0)).find((s) => statuses[s.name].status === 'up');
  if (preferred) return { analysis: 'PreferredRecovered', statuses, active, target: preferred.name };
  return { analysis: 'ActiveHealthy', statuses, active };
}
