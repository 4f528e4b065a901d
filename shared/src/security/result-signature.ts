import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CheckResult } from '../core/observation';

/**
 * Check results are signed by the vantage that produced them (HMAC-SHA256 with that vantage's key), so a checker
 * can vote only as its own vantage, and a result cannot be altered, replayed or stamped in the future unnoticed.
 * Pure functions: the controller keeps the replay window (result-admission) and the keys.
 */

export interface SignedCheckResult extends CheckResult {
  /** `v1=<hex HMAC-SHA256 of canonicalResult()>` */
  sig: string;
}

/** Why a result was refused: the `reason` label of failover_results_rejected_total. */
export type ResultRejection = 'malformed' | 'undeclared_vantage' | 'unsigned' | 'bad_signature' | 'future' | 'replayed' | 'expired';

export const RESULT_REJECTIONS: readonly ResultRejection[] = ['malformed', 'undeclared_vantage', 'unsigned', 'bad_signature', 'future', 'replayed', 'expired'];

const SIG_PREFIX = 'v1=';

/** The bytes that are signed: every field but `sig`, keys sorted at every level, so field order never matters. */
export function canonicalResult(r: object): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .sort()
          .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  const { sig: _sig, ...rest } = r as { sig?: unknown };
  return JSON.stringify(sorted(rest));
}

function mac(r: object, key: string): string {
  return createHmac('sha256', key).update(canonicalResult(r)).digest('hex');
}

export function signResult(r: CheckResult, key: string): SignedCheckResult {
  return { ...r, sig: `${SIG_PREFIX}${mac(r, key)}` };
}

export interface VerifyOptions {
  now: number;
  /** How far ahead of the controller's clock a result's `at` may be (checker clocks drift a little). */
  skewMs: number;
  /** Older results are refused: a replay window must not have to remember forever. */
  maxAgeMs: number;
}

export type SignatureVerdict = { ok: true } | { ok: false; reason: ResultRejection; detail: string };

/**
 * Checks a well-formed result against the key of the vantage it names. `keyOf` answers undefined for a vantage
 * that is not declared. Replays inside the window are the caller's to detect (by signature), as it holds state.
 */
export function verifyResultSignature(r: CheckResult & { sig?: unknown }, keyOf: (vantage: string) => string | undefined, o: VerifyOptions): SignatureVerdict {
  const key = keyOf(r.vantage);
  if (key === undefined) return { ok: false, reason: 'undeclared_vantage', detail: `vantage "${r.vantage}" is not declared` };
  if (typeof r.sig !== 'string' || r.sig === '') return { ok: false, reason: 'unsigned', detail: `result from vantage "${r.vantage}" carries no signature` };
  const want = Buffer.from(`${SIG_PREFIX}${mac(r, key)}`);
  const got = Buffer.from(r.sig);
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    return { ok: false, reason: 'bad_signature', detail: `result from vantage "${r.vantage}" is not signed with that vantage's key` };
  }
  if (r.at > o.now + o.skewMs) return { ok: false, reason: 'future', detail: `result from vantage "${r.vantage}" is dated ${r.at - o.now}ms ahead of this clock` };
  if (r.at < o.now - o.maxAgeMs) return { ok: false, reason: 'expired', detail: `result from vantage "${r.vantage}" is ${o.now - r.at}ms old` };
  return { ok: true };
}
