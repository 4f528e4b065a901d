import { portalModel, siteStatus, type Operation, type PortalConfig } from '@portal-failover/shared';
import type { ApiContext } from './context';

/** What operators see for one portal: state from the leader, freeze from the API's own record. */
export async function portalView(ctx: ApiContext, p: PortalConfig) {
  const model = portalModel(p);
  const [state, controls, recent] = await Promise.all([ctx.store.loadState(p.id), ctx.control.read([p.id]), ctx.store.recentOperations(p.id, 1)]);
  const c = controls.get(p.id) ?? {};
  const t = ctx.now();
  const last = state?.lastAutoSwitchAt;
  return {
    id: p.id,
    name: p.name,
    activeSite: state?.activeSite ?? p.sites[0].name,
    phase: c.freeze && state?.phase !== 'failing_over' ? 'frozen' : (state?.phase ?? 'no_data'),
    reason: state?.lastReason ?? 'no controller has reported on this portal yet',
    sites: model.sites.map((s, i) => {
      const st = siteStatus(state?.health ?? {}, s.name, s.checkNames, model.policy, t);
      return { name: s.name, provider: p.sites[i].provider, status: st.status, vantages: st.vantages };
    }),
    frozen: c.freeze ?? null,
    cooldown:
      last !== undefined
        ? {
            lastAutoSwitchAt: new Date(last).toISOString(),
            until: new Date(last + model.policy.cooldownMs).toISOString(),
            active: t - last < model.policy.cooldownMs,
            acknowledged: c.ack !== undefined && c.ack.at >= last,
          }
        : null,
    operationInFlight: state?.inflight ?? null,
    pendingRequest: c.intent?.operation.id ?? null,
    lastOperation: (recent[0] as Operation | undefined) ?? null,
  };
}
