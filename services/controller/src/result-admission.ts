import {
  verifyResultSignature,
  vantageKey,
  type CheckResult,
  type Config,
  type ResultRejection,
} from '@portal-failover/shared';
import type { Redis } from 'ioredis';

/** How far ahead a checker's clock may run before its results are refused as future-dated. */
export const RESULT_CLOCK_SKEW_MS = 30_000;
/** Results older than this are refused; it is also how long a signature is remembered to catch replays. */
export const RESULT_MAX_AGE_MS = 10 * 60_000;

export type Admission = { ok: true; result: CheckResult } | { ok: false; reason: ResultRejection; detail: string };

/**
 * The controller's gate for check results: only declared vantages, only with a valid signature by that vantage's
 * key, not from the future, not too old, and each signed result at most once (a replayed queue entry or a copy
 * re-sent by someone who captured it changes nothing). Deterministic given `now`; the seen-set is bounded by age.
 */
export class ResultAdmission {
  /**
   * Per check of a vantage, the probe start times (`at`) taken within the replay window, ascending. A vantage's
   * checker runs a check at most once per start time, and the signature covers both, so "this check at this time,
   * already taken" is a replay exactly when "this signature, already taken" is. Kept per check rather than per
   * signature: at 2,500 results a second, ten minutes of signatures were 1.5 million strings in the leader's heap;
   * these are numbers in one array per check.
   */
  private readonly seen = new Map<string, number[]>();
  private sweepAt = 0;

  constructor(private readonly keys: ReadonlyMap<string, string>) {}

  static async forConfig(config: Config, redis: Pick<Redis, 'set' | 'get'>): Promise<ResultAdmission> {
    const keys = new Map<string, string>();
    for (const v of config.vantages) keys.set(v.name, await vantageKey(v, redis, config.redis.prefix));
    return new ResultAdmission(keys);
  }

  admit(r: CheckResult & { sig?: unknown }, now: number): Admission {
    const v = verifyResultSignature(r, (name) => this.keys.get(name), { now, skewMs: RESULT_CLOCK_SKEW_MS, maxAgeMs: RESULT_MAX_AGE_MS });
    if (!v.ok) return v;
    this.sweep(now);
    const key = `${r.vantage}\n${r.portal}\n${r.site}\n${r.check}`;
    let ats = this.seen.get(key);
    if (!ats) this.seen.set(key, (ats = []));
    if (!takeOnce(ats, r.at)) return { ok: false, reason: 'replayed', detail: `result from vantage "${r.vantage}" for ${r.portal}/${r.site}/${r.check} at ${r.at} was already taken` };
    const { sig: _sig, ...result } = r;
    return { ok: true, result };
  }

  private sweep(now: number): void {
    if (now < this.sweepAt) return;
    this.sweepAt = now + 60_000;
    const horizon = now - RESULT_MAX_AGE_MS;
    for (const [key, ats] of this.seen) {
      let old = 0;
      while (old < ats.length && ats[old] < horizon) old++;
      if (old === ats.length) this.seen.delete(key);
      else if (old) ats.splice(0, old);
    }
  }
}

/** Adds `at` to the ascending list unless it is there already (then false). Results mostly arrive in order. */
function takeOnce(ats: number[], at: number): boolean {
  let i = ats.length;
  while (i > 0 && ats[i - 1] > at) i--;
  if (i > 0 && ats[i - 1] === at) return false;
  ats.splice(i, 0, at);
  return true;
}
