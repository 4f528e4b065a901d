import { cooldownOf, overlayPhase, portalModel, siteReadiness, siteStatus, type Operation, type PortalConfig } from '@portal-failover/shared';
import type { ApiContext } from './context';
import { loweredView, portalWindows } from './risk-windows';

/** Portals read at the same time for a list (the portal list, the status page): a few Redis commands each. */
export const PORTAL_READ_LANES = 64;

/** What operators see for one portal: state from the leader, freeze from the API's own record. */
export async function portalView(ctx: ApiContext, p: PortalConfig) {
  const model = portalModel(p);
  const [state, controls, recent] = await Promise.all([ctx.store.loadState(p.id), ctx.control.read([p.id]), ctx.store.recentOperations(p.id, 1)]);
  const windows = await portalWindows(ctx, p, state?.ttlLowered);
  const c = controls.get(p.id) ?? {};
  const t = ctx.now();
  // The freeze and acknowledgement records are the API's own and may be newer than the leader's last decision.
  const cooldown = state ? cooldownOf({ cooldownStartedAt: state.cooldownStartedAt, ackedAt: c.ack?.at }, model.policy.cooldownMs, t) : undefined;
  return {
    id: p.id,
    name: p.name,
    activeSite: state?.activeSite ?? p.sites[0].name,
    phase: overlayPhase(state?.phase ?? 'no_data', { inflight: state?.inflight !== undefined, frozen: c.freeze !== undefined }),
    reason: state?.lastReason ?? 'no controller has reported on this portal yet',
    sites: model.sites.map((s, i) => {
      const st = siteStatus(state?.health ?? {}, s.name, s.checkNames, model.policy, t);
      const r = siteReadiness(state?.health ?? {}, model, s.name, t);
      return { name: s.name, provider: p.sites[i].provider, status: st.status, vantages: st.vantages, readiness: { ready: r.ready, reason: r.reason } };
    }),
    frozen: c.freeze ?? null,
    cooldown: cooldown
      ? { lastAutoSwitchAt: new Date(cooldown.startedAt).toISOString(), until: new Date(cooldown.until).toISOString(), active: cooldown.active, acknowledged: cooldown.acknowledged }
      : null,
    operationInFlight: state?.inflight ?? null,
    pendingRequest: c.intent?.request.id ?? null,
    lastOperation: (recent[0] as Operation | undefined) ?? null,
    riskWindows: windows.filter((w) => w.phase !== 'ended'),
    ttlLowered: loweredView(state?.ttlLowered),
  };
}
