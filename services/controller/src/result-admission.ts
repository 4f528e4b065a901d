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
  private readonly seen = new Map<string, number>();
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
    const sig = String(r.sig);
    this.sweep(now);
    if (this.seen.has(sig)) return { ok: false, reason: 'replayed', detail: `result from vantage "${r.vantage}" for ${r.portal}/${r.site}/${r.check} at ${r.at} was already taken` };
    this.seen.set(sig, r.at);
    const { sig: _sig, ...result } = r;
    return { ok: true, result };
  }

  private sweep(now: number): void {
    if (now < this.sweepAt) return;
    this.sweepAt = now + 60_000;
    for (const [sig, at] of this.seen) if (at < now - RESULT_MAX_AGE_MS) this.seen.delete(sig);
  }
}
