import { PHASES, queueMetricsCollected, RESULTS_QUEUE, type Decision, type Metrics, type RateLimitedLog } from '@portal-failover/shared';
import type { Queue } from 'bullmq';
import type { PortalRuntime } from './portal-runtime';

/** Exports the leader's view of one portal: health and readiness per site, active site, phase, freeze, lowered TTL. */
export function publishPortal(m: Metrics, rt: PortalRuntime, statuses: Record<string, { status: string }>, readiness: Decision['readiness']): void {
  // The leader evaluates every portal at every tick and at every result; at 12,500 portals setting a dozen labelled
  // gauges each time was a tenth of its CPU. The exported values are few, so they are compared first.
  const ttl = rt.state.ttlLowered?.ttl ?? 0;
  let shown = `${rt.state.activeSite}|${rt.state.phase}|${rt.state.frozen ? 1 : 0}|${ttl}`;
  for (const s of rt.model.sites) shown += `|${statuses[s.name]?.status}|${readiness[s.name]?.ready ? 1 : 0}`;
  if (shown === rt.published) return;
  rt.published = shown;
  const portal = rt.model.id;
  for (const s of rt.model.sites) {
    const st = statuses[s.name]?.status;
    m.siteHealthy.set({ portal, site: s.name }, st === 'up' ? 1 : st === 'down' ? 0 : -1);
    m.activeSite.set({ portal, site: s.name }, s.name === rt.state.activeSite ? 1 : 0);
    m.siteReady.set({ portal, site: s.name }, readiness[s.name]?.ready ? 1 : 0);
  }
  for (const phase of PHASES) m.portalPhase.set({ portal, phase }, phase === rt.state.phase ? 1 : 0);
  m.automationFrozen.set({ portal }, rt.state.frozen ? 1 : 0);
  m.dnsTtlLowered.set({ portal }, ttl);
}

/** A deposed controller must not keep exporting its last view as if it were current. */
export function withdrawLeaderView(m: Metrics, portals: Iterable<PortalRuntime>): void {
  // Withdrawn series are exported again in full when this process leads again.
  for (const rt of portals) rt.published = '';
  m.controllerLeader.set(0);
  for (const g of [m.portalPhase, m.activeSite, m.siteHealthy, m.siteReady, m.automationFrozen, m.queueJobs, m.trafficInSync, m.riskWindowInForce, m.dnsTtlLowered]) g.reset();
}

/**
 * Where the API runs in this process (all-in-one), its collector owns failover_queue_jobs and reads every queue at
 * scrape time. A standalone controller still exports the results queue's counts: the leader-filtered
 * FailoverQueueBacklog rule and "Queue jobs" panel read them from the leader's process.
 */
export async function publishResultsQueue(m: Metrics, queue: Queue, warn: RateLimitedLog): Promise<void> {
  if (queueMetricsCollected(m)) return;
  try {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
    for (const [state, n] of Object.entries(counts)) m.queueJobs.set({ queue: RESULTS_QUEUE, state }, n);
  } catch (err) {
    warn.warn('queue-counts', `cannot read queue counts: ${(err as Error).message}`);
  }
}
