import type { PortalConfig, SiteStatus } from '@portal-failover/shared';

/**
 * How long a new leader may wait for its view to become current before it judges switchover requests anyway:
 * after staleAfterIntervals of the portal's longest check interval every vantage that still reports has reported
 * again, so a view still stale by then is stale for real (checks stopped) and a rejection tells the truth.
 */
export function takeoverGraceMs(p: Pick<PortalConfig, 'sites' | 'policy'>): number {
  const intervals = p.sites.flatMap((s) => [...s.checks, ...s.readiness].map((c) => c.interval));
  return p.policy.staleAfterIntervals * Math.max(0, ...intervals);
}

/**
 * Whether a leader may judge a switchover request on its current view of the portal. The health it loads on taking
 * the lease was saved by its predecessor before the handover gap (a dead leader's lease has to expire first), so
 * for a moment every vantage looks stale, until the results queued during the gap are consumed. A request judged in
 * that moment was rejected as "target unknown" although the target was healthy all along; it waits instead (the
 * request stays pending in Redis) until every site has at least `quorum` fresh vantages, or the grace has passed.
 * Quorum, not every vantage: one dead checker must not delay every request after a takeover by the whole grace.
 */
export function viewIsCurrent(statuses: Record<string, SiteStatus>, sites: readonly string[], quorum: number, sinceTakeoverMs: number, graceMs: number): boolean {
  if (sinceTakeoverMs >= graceMs) return true;
  return sites.every((s) => (statuses[s]?.vantages ?? []).filter((v) => v.verdict !== 'stale').length >= Math.max(1, quorum));
}
