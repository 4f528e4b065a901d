import type { PortalModel } from '../core/state';
import { checkName, readinessCheckName, type PortalConfig } from './schema';

export function portalModel(p: PortalConfig): PortalModel {
  return {
    id: p.id,
    sites: p.sites.map((s) => ({
      name: s.name,
      checkNames: s.checks.map((c, i) => checkName(c, i)),
      readiness: {
        checkNames: s.readiness.map((c, i) => readinessCheckName(c, i)),
        sameVersion: s.readiness.flatMap((c, i) =>
          c.type === 'http' && c.expect.sameVersionAs
            ? [{ check: readinessCheckName(c, i), site: c.expect.sameVersionAs.site, maxLagMs: c.expect.sameVersionAs.maxLag }]
            : [],
        ),
      },
    })),
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
