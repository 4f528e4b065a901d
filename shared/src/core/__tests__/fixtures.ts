import type { CheckResult } from '../observation';
import { applyResult } from '../health';
import type { PortalModel, PortalState } from '../state';
import { initialState } from '../state';

export const INTERVAL = 1000;

export function model(policy: Partial<PortalModel['policy']> = {}, sites = ['primary', 'standby']): PortalModel {
  return {
    id: 'dvc',
    sites: sites.map((name) => ({ name, checkNames: ['http-0'] })),
    policy: {
      failureThreshold: 3,
      recoveryThreshold: 2,
      quorum: 1,
      cooldownMs: 600_000,
      autoFailover: true,
      autoFailback: false,
      staleAfterIntervals: 3,
      ...policy,
    },
  };
}

export function result(site: string, ok: boolean, at: number, vantage = 'v1', check = 'http-0'): CheckResult {
  return { portal: 'dvc', site, check, vantage, ok, at, durationMs: 5, intervalMs: INTERVAL, reason: ok ? undefined : 'refused', detail: ok ? undefined : 'connection refused' };
}

/** Feeds results into a state the way the controller does (decide is run by the caller). */
export function feed(state: PortalState, m: PortalModel, results: CheckResult[]): PortalState {
  return results.reduce((s, r) => ({ ...s, health: applyResult(s.health, r, m.policy) }), state);
}

/** A state where every listed site has been up on the vantages long enough to be confirmed. */
export function warmedUp(m: PortalModel, until: number, vantages = ['v1']): PortalState {
  let s = initialState(m);
  for (let t = until - m.policy.recoveryThreshold * INTERVAL; t < until; t += INTERVAL) {
    for (const site of m.sites) for (const v of vantages) s = feed(s, m, [result(site.name, true, t, v)]);
  }
  return s;
}
