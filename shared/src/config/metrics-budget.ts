import { z } from 'zod';
import type { Config } from './schema';

/**
 * Above this many configured checks, `metrics.perCheckHistograms: auto` leaves the per-check duration histogram
 * off: it costs 14 series per check (11 buckets, +Inf, sum, count) per vantage, which at national size (tens of
 * thousands of checks) would be most of a Prometheus server's budget. The vantage-level histograms stay on.
 */
export const PER_CHECK_HISTOGRAMS_AUTO_LIMIT = 1000;

/**
 * Up to this many portals, the controller's per-portal histograms (failover_detection_seconds{portal},
 * failover_switch_duration_seconds{portal,trigger}: 56 series per portal) are exported at zero from the start like
 * its counters. Above it they appear with their first observation: they feed dashboards, not alerts, and at 12,500
 * portals zeroing them was 700,000 series, most of the leader's heap and of every scrape.
 */
export const ZEROED_PORTAL_HISTOGRAMS_LIMIT = 1000;

/** Whether the per-portal histograms are exported at zero before their first observation. */
export function zeroPortalHistograms(config: Pick<Config, 'portals'>): boolean {
  return config.portals.length <= ZEROED_PORTAL_HISTOGRAMS_LIMIT;
}

/** Counts the configured checks (every serving and readiness check of every site of every portal). */
export function countChecks(config: Pick<Config, 'portals'>): number {
  let n = 0;
  for (const p of config.portals) for (const s of p.sites) n += s.checks.length + s.readiness.length;
  return n;
}

/** Whether failover_check_duration_seconds{portal,site,check,vantage} is recorded for this config. */
export function perCheckHistograms(config: Pick<Config, 'portals' | 'metrics'>): boolean {
  const setting = config.metrics.perCheckHistograms;
  return setting === 'auto' ? countChecks(config) <= PER_CHECK_HISTOGRAMS_AUTO_LIMIT : setting;
}

/** The `metrics` section of the config. */
export const metricsSchema = z
  .strictObject({
    /** failover_check_duration_seconds per check: `auto` keeps it up to PER_CHECK_HISTOGRAMS_AUTO_LIMIT checks. */
    perCheckHistograms: z.union([z.boolean(), z.literal('auto')]).default('auto'),
  })
  .prefault({});
