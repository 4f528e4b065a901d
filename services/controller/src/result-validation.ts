import type { CheckResult } from '@portal-failover/shared';

/** Queue payloads come from other processes (maybe other versions): accept only well-formed results. */
export function parseCheckResult(data: unknown): CheckResult | string {
  if (!data || typeof data !== 'object') return 'result is not an object';
  const r = data as Record<string, unknown>;
  for (const f of ['portal', 'site', 'check', 'vantage'] as const) {
    if (typeof r[f] !== 'string' || r[f] === '') return `${f}: must be a non-empty string`;
  }
  if (typeof r.ok !== 'boolean') return 'ok: must be a boolean';
  for (const f of ['at', 'durationMs', 'intervalMs'] as const) {
    if (typeof r[f] !== 'number' || !Number.isFinite(r[f])) return `${f}: must be a finite number`;
  }
  if ((r.intervalMs as number) <= 0) return 'intervalMs: must be positive';
  if (r.version !== undefined && (typeof r.version !== 'string' || r.version.length > 200)) return 'version: must be a string of at most 200 characters';
  return r as unknown as CheckResult;
}
