import type { CheckResult } from './observation';

export type Verdict = 'up' | 'down' | 'unknown';

/** Hysteresis state of one check of one site as seen from one vantage. */
export interface CheckHealth {
  verdict: Verdict;
  okStreak: number;
  failStreak: number;
  /** Start time of the first failed probe of the current failure streak (for failover_detection_seconds). */
  failingSince?: number;
  /** Start time of the newest result applied; older or equal results are ignored (duplicates, reordering). */
  lastAt: number;
  intervalMs: number;
  lastOk: boolean;
  lastDetail?: string;
  /** The newest result came from a vantage whose canary failed (see CheckResult.blind). */
  blind?: boolean;
  /** Newest content version a probe of this check reported, and when (kept across results that carry none). */
  version?: string;
  versionAt?: number;
}

/** health[site][vantage][check] */
export type PortalHealth = Record<string, Record<string, Record<string, CheckHealth>>>;

export interface Thresholds {
  failureThreshold: number;
  recoveryThreshold: number;
}

/** Folds one result into the streaks: `down` after N failures in a row, `up` after M successes, else unchanged. */
export function applyResult(health: PortalHealth, r: CheckResult, t: Thresholds): PortalHealth {
  const prev = health[r.site]?.[r.vantage]?.[r.check];
  if (prev && r.at <= prev.lastAt) return health;
  const okStreak = r.ok ? (prev?.okStreak ?? 0) + 1 : 0;
  const failStreak = r.ok ? 0 : (prev?.failStreak ?? 0) + 1;
  let verdict: Verdict = prev?.verdict ?? 'unknown';
  if (failStreak >= t.failureThreshold) verdict = 'down';
  else if (okStreak >= t.recoveryThreshold) verdict = 'up';
  const next: CheckHealth = {
    verdict,
    okStreak,
    failStreak,
    failingSince: r.ok ? undefined : failStreak === 1 ? r.at : (prev?.failingSince ?? r.at),
    lastAt: r.at,
    intervalMs: r.intervalMs,
    lastOk: r.ok,
    lastDetail: r.ok ? undefined : (r.detail ?? r.reason),
    ...(r.blind ? { blind: true } : {}),
    ...(r.version !== undefined ? { version: r.version, versionAt: r.at } : prev?.version !== undefined ? { version: prev.version, versionAt: prev.versionAt } : {}),
  };
  return {
    ...health,
    [r.site]: { ...health[r.site], [r.vantage]: { ...health[r.site]?.[r.vantage], [r.check]: next } },
  };
}

export type VantageVerdict = Verdict | 'stale' | 'blind';

export interface VantageView {
  vantage: string;
  verdict: VantageVerdict;
  failingSince?: number;
  detail?: string;
  /** Up by hysteresis, but the newest probe of some check failed: a failure streak may be starting. */
  failingNow?: boolean;
}

/**
 * One vantage's verdict on a site: down when any fresh check is down, up when every configured check is fresh and
 * up, stale when none is fresh (no result for longer than staleAfterIntervals intervals), otherwise unknown.
 */
export function vantageVerdict(
  checks: Record<string, CheckHealth> | undefined,
  checkNames: readonly string[],
  staleAfterIntervals: number,
  now: number,
): Omit<VantageView, 'vantage'> {
  const fresh = checkNames
    .map((name) => ({ name, h: checks?.[name] }))
    .filter((c): c is { name: string; h: CheckHealth } => c.h !== undefined && now - c.h.lastAt <= staleAfterIntervals * c.h.intervalMs);
  if (fresh.length === 0) return { verdict: 'stale' };
  // A vantage that cannot reach its own canary cannot tell a dead site from its own dead network.
  if (fresh.some((c) => c.h.blind)) return { verdict: 'blind', detail: 'the vantage\'s canary is unreachable' };
  const down = fresh.filter((c) => c.h.verdict === 'down');
  if (down.length > 0) {
    const failingSince = Math.min(...down.map((c) => c.h.failingSince ?? c.h.lastAt));
    return { verdict: 'down', failingSince, detail: down.map((c) => `${c.name}: ${c.h.lastDetail ?? 'failing'}`).join('; ') };
  }
  if (fresh.length === checkNames.length && fresh.every((c) => c.h.verdict === 'up')) {
    const failing = fresh.filter((c) => !c.h.lastOk);
    return failing.length ? { verdict: 'up', failingNow: true, detail: failing.map((c) => `${c.name}: ${c.h.lastDetail ?? 'failing'}`).join('; ') } : { verdict: 'up' };
  }
  return { verdict: 'unknown' };
}

export type SiteHealth = 'up' | 'down' | 'unknown';

export interface SiteStatus {
  site: string;
  status: SiteHealth;
  vantages: VantageView[];
  down: string[];
  up: string[];
  /** Earliest failure start among the vantages that say down. */
  failingSince?: number;
  /** True when at least one vantage has a fresh result. */
  hasData: boolean;
  /**
   * Up, and the newest probe passed on at least `quorum` of the vantages that say up. Only a steady site may become
   * a switch target: when a primary and its standby fail together, the standby's hysteresis would otherwise keep it
   * "up" for a few rounds and the primary's cut could move traffic onto a dead standby.
   */
  steady: boolean;
}

/**
 * Quorum over vantages: down when at least `quorum` fresh vantages say down and more say down than up; up when at
 * least `quorum` say up and more say up than down; otherwise unknown. Stale and blind vantages are no witnesses.
 * (With `majority` both sides cannot reach quorum at once; with a small numeric quorum the larger side wins and a
 * tie is unknown, so one vantage's local fault cannot outvote the others.)
 */
export function siteStatus(
  health: PortalHealth,
  site: string,
  checkNames: readonly string[],
  policy: { quorum: number; staleAfterIntervals: number },
  now: number,
): SiteStatus {
  const byVantage = health[site] ?? {};
  const vantages: VantageView[] = Object.keys(byVantage)
    .sort()
    .map((vantage) => ({ vantage, ...vantageVerdict(byVantage[vantage], checkNames, policy.staleAfterIntervals, now) }));
  const down = vantages.filter((v) => v.verdict === 'down').map((v) => v.vantage);
  const up = vantages.filter((v) => v.verdict === 'up').map((v) => v.vantage);
  const status: SiteHealth =
    down.length >= policy.quorum && down.length > up.length ? 'down' : up.length >= policy.quorum && up.length > down.length ? 'up' : 'unknown';
  const downSince = vantages.filter((v) => v.verdict === 'down').map((v) => v.failingSince ?? now);
  const upNow = vantages.filter((v) => v.verdict === 'up' && !v.failingNow).length;
  return {
    site,
    status,
    vantages,
    down,
    up,
    failingSince: downSince.length ? Math.min(...downSince) : undefined,
    hasData: vantages.some((v) => v.verdict !== 'stale'),
    steady: status === 'up' && upNow >= policy.quorum && upNow > down.length,
  };
}
