import { siteStatus, type PortalHealth } from './health';
import type { PortalModel } from './state';

/**
 * Standby readiness: whether a site may become the target of a switch. Readiness checks are probed and folded
 * like serving checks, but they never decide whether a site is serving; they only make a healthy site eligible.
 * Pure: health and model in, verdict and one sentence out.
 */
export interface Readiness {
  site: string;
  ready: boolean;
  /** One sentence naming the readiness check that failed, or why the site counts as ready. */
  reason: string;
}

/** A time-like version: ISO 8601, or Unix seconds (milliseconds when above 1e12). Undefined when not a time. */
export function versionTime(v: string): number | undefined {
  const t = v.trim();
  if (/^\d+(\.\d+)?$/.test(t)) {
    const n = Number(t);
    return n > 1e12 ? n : n * 1000;
  }
  if (!/^\d{4}-\d{2}-\d{2}/.test(t)) return undefined;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 360) / 10}h`;
}

/** The version in the newest result (any vantage) of the given checks of a site, with when it was seen. */
function newestVersion(health: PortalHealth, site: string, checks: readonly string[] | undefined): { version: string; at: number } | undefined {
  let best: { version: string; at: number } | undefined;
  for (const byCheck of Object.values(health[site] ?? {})) {
    for (const [name, h] of Object.entries(byCheck)) {
      if (checks && !checks.includes(name)) continue;
      if (h.version === undefined) continue;
      if (!best || h.versionAt! > best.at) best = { version: h.version, at: h.versionAt! };
    }
  }
  return best;
}

/** The newest known version of a site over all its checks, by version time (the primary's "last known version"). */
function latestVersionOfSite(health: PortalHealth, site: string): { version: string; time: number } | undefined {
  let best: { version: string; time: number } | undefined;
  for (const byCheck of Object.values(health[site] ?? {})) {
    for (const h of Object.values(byCheck)) {
      const time = h.version === undefined ? undefined : versionTime(h.version);
      if (time !== undefined && (!best || time > best.time)) best = { version: h.version!, time };
    }
  }
  return best;
}

export function siteReadiness(health: PortalHealth, model: PortalModel, site: string, now: number): Readiness {
  const r = model.sites.find((s) => s.name === site)?.readiness;
  if (!r || r.checkNames.length === 0) return { site, ready: true, reason: `${site} has no readiness checks` };
  const st = siteStatus(health, site, r.checkNames, model.policy, now);
  if (st.status === 'down') {
    const why = st.vantages.find((v) => v.verdict === 'down')?.detail ?? 'failing';
    return { site, ready: false, reason: `${site} is not ready: readiness ${why} (down on ${st.down.join(', ')})` };
  }
  if (st.status !== 'up') {
    return { site, ready: false, reason: `${site} is not ready: its readiness checks (${r.checkNames.join(', ')}) are not confirmed up by quorum` };
  }
  for (const rule of r.sameVersion) {
    const own = newestVersion(health, site, [rule.check]);
    if (!own) return { site, ready: false, reason: `${site} is not ready: readiness ${rule.check} has reported no version yet` };
    const ownTime = versionTime(own.version);
    if (ownTime === undefined) return { site, ready: false, reason: `${site} is not ready: readiness ${rule.check}: version "${own.version}" is not a time` };
    const ref = latestVersionOfSite(health, rule.site);
    // Nothing known of the other site (never reported a version): nothing to lag behind.
    if (!ref) continue;
    const lag = ref.time - ownTime;
    if (lag > rule.maxLagMs) {
      return {
        site,
        ready: false,
        reason: `${site} is not ready: readiness ${rule.check}: content version ${own.version} is ${duration(lag)} behind ${rule.site}'s ${ref.version} (maxLag ${duration(rule.maxLagMs)})`,
      };
    }
  }
  return { site, ready: true, reason: `${site} is ready` };
}

export function portalReadiness(health: PortalHealth, model: PortalModel, now: number): Record<string, Readiness> {
  return Object.fromEntries(model.sites.map((s) => [s.name, siteReadiness(health, model, s.name, now)]));
}
