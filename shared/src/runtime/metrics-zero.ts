import { RESULT_REJECTIONS } from '../security/result-signature';
import { RECORD_KINDS } from '../store/records';
import { checkName, type Config } from '../config/schema';
import { endpointText, isPropagationSettings } from '../providers/dns-propagation';
import { perCheckHistograms, zeroPortalHistograms } from '../config/metrics-budget';
import type { TrafficProvider } from '../providers/provider';
import type { Metrics } from './metrics';

const TRIGGERS = ['auto', 'manual', 'alert'] as const;
const RESULTS = ['success', 'failed', 'rejected'] as const;
const PROVIDER_CALLS = ['read', 'apply', 'verify'] as const;
const OUTCOMES = ['ok', 'error'] as const;

/**
 * Counters and histograms of the controller, at zero for every configured portal and possible switch from the
 * start (the per-portal histograms only up to ZEROED_PORTAL_HISTOGRAMS_LIMIT portals, metrics-budget.ts). A series that appears only at its first event makes `increase()` miss that event and forces alert rules
 * into `x unless x offset w` workarounds that fire falsely after every Prometheus restart. Gauges are left alone:
 * leader-only gauges must stay absent on a follower.
 */
export function zeroControllerMetrics(m: Metrics, config: Config): void {
  for (const reason of RESULT_REJECTIONS) m.resultsRejected.inc({ reason }, 0);
  for (const record of RECORD_KINDS) m.recordsInvalid.inc({ record }, 0);
  const histograms = zeroPortalHistograms(config);
  for (const p of config.portals) {
    if (histograms) m.detection.zero({ portal: p.id });
    for (const trigger of TRIGGERS) {
      if (histograms) m.switchDuration.zero({ portal: p.id, trigger });
      for (const from of p.sites) {
        for (const to of p.sites) {
          if (from.name === to.name) continue;
          for (const result of RESULTS) m.switchovers.inc({ portal: p.id, from: from.name, to: to.name, trigger, result }, 0);
        }
      }
    }
    for (const step of p.traffic) {
      for (const operation of PROVIDER_CALLS) for (const outcome of OUTCOMES) m.providerRequestDuration.zero({ kind: step.kind, operation, outcome });
      // Listed nameservers are known before any switch (NS records are looked up only when one happens).
      for (const ns of isPropagationSettings(step.verify) ? (step.verify.nameservers ?? []) : []) {
        m.propagation.zero({ portal: p.id, server: endpointText(ns) });
        m.propagationLagging.inc({ portal: p.id, server: endpointText(ns) }, 0);
      }
    }
  }
}

/** The checker's histograms at zero for every check it runs from its vantage. */
export function zeroCheckerMetrics(m: Metrics, config: Config, vantage: string): void {
  m.checkLag.zero({ vantage });
  m.vantageCheckDuration.zero({ vantage });
  // The per-check histogram exists only within the cardinality budget (metrics.perCheckHistograms).
  if (!perCheckHistograms(config)) return;
  for (const p of config.portals) {
    for (const s of p.sites) {
      s.checks.forEach((c, i) => m.checkDuration.zero({ portal: p.id, site: s.name, check: checkName(c, i), vantage }));
    }
  }
}

/** Times every provider call into failover_provider_request_duration_seconds{kind,operation,outcome}. */
export function instrumentProvider(provider: TrafficProvider, m: Metrics): TrafficProvider {
  const timed = <T>(operation: (typeof PROVIDER_CALLS)[number], call: () => Promise<T>): Promise<T> => {
    const end = m.providerRequestDuration.startTimer({ kind: provider.kind, operation });
    return call().then(
      (v) => {
        end({ outcome: 'ok' });
        return v;
      },
      (err: unknown) => {
        end({ outcome: 'error' });
        throw err;
      },
    );
  };
  return {
    kind: provider.kind,
    label: provider.label,
    read: () => timed('read', () => provider.read()),
    plan: (current, site) => provider.plan(current, site),
    apply: (plan, ctx) => timed('apply', () => provider.apply(plan, ctx)),
    verify: (site) => timed('verify', () => provider.verify(site)),
    // Not a provider request (it asks nameservers, not the provider's API): passed through untimed.
    ...(provider.propagation ? { propagation: provider.propagation.bind(provider) } : {}),
  };
}
