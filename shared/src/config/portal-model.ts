import type { PortalModel } from '../core/state';
import { checkName, type PortalConfig } from './schema';

export function portalModel(p: PortalConfig): PortalModel {
  return {
    id: p.id,
    sites: p.sites.map((s) => ({ name: s.name, checkNames: s.checks.map((c, i) => checkName(c, i)) })),
    policy: {
      failureThreshold: p.policy.failureThreshold,
      recoveryThreshold: p.policy.recoveryThreshold,
      quorum: p.policy.quorum,
      cooldownMs: p.policy.cooldown,
      autoFailover: p.policy.autoFailover,
      autoFailback: p.policy.autoFailback,
      staleAfterIntervals: p.policy.staleAfterIntervals,
    },
  };
}
