import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
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

/**
 * The bytes that are signed: every field but `sig`, keys sorted at every level, so field order never matters.
 * Exactly `JSON.stringify` of a copy with sorted keys and undefined fields left out (the reference form in the
 * test), written out directly: every result is signed by its checker and verified by the controller, and building
 * the sorted copies cost more than the HMAC itself at a few thousand results a second.
 */
export function canonicalResult(r: object): string {
  let out = '{';
  let first = true;
  for (const k of canonicalKeys(r)) {
    const v = (r as Record<string, unknown>)[k];
    if (k === 'sig' || omitted(v)) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonical(v)}`;
    first = false;
  }
  return `${out}}`;
}

/**
 * Sorted keys in the order the reference form writes them: it rebuilt each object from its sorted entries, and an
 * object lists array-index keys ("0", "17") first, in numeric order, whatever order they were added in.
 */
function canonicalKeys(o: object): string[] {
  const keys = Object.keys(o).sort();
  if (!keys.some(isArrayIndex)) return keys;
  const indices = keys.filter(isArrayIndex).sort((a, b) => Number(a) - Number(b));
  return [...indices, ...keys.filter((k) => !isArrayIndex(k))];
}

function isArrayIndex(k: string): boolean {
  const n = Number(k);
  return n >= 0 && n < 4294967295 && Number.isInteger(n) && String(n) === k;
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
function omitted(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((e) => (omitted(e) ? 'null' : canonical(e))).join(',')}]`;
  let out = '{';
  let first = true;
  for (const k of canonicalKeys(v)) {
    const e = (v as Record<string, unknown>)[k];
    if (omitted(e)) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonical(e)}`;
    first = false;
  }
  return `${out}}`;
}

/** Keys as KeyObjects, made once per key: a string key is copied into a new buffer by every createHmac. */
const keyObjects = new Map<string, KeyObject>();

function mac(r: object, key: string): string {
  let k = keyObjects.get(key);
  if (k === undefined) {
    // A handful of vantage keys per process; the bound only guards against a caller passing ever-new keys.
    if (keyObjects.size >= 64) keyObjects.clear();
    k = createSecretKey(Buffer.from(key, 'utf8'));
    keyObjects.set(key, k);
  }
  return createHmac('sha256', k).update(canonicalResult(r)).digest('hex');
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
