import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { canonicalResult, signResult, verifyResultSignature } from './result-signature';
import type { CheckResult } from '../core/observation';

/**
 * The canonical form as it was first defined (sorted copies, then JSON.stringify). Signatures made by checkers of
 * an older release must still verify, so the direct serializer has to produce exactly these bytes.
 */
function reference(r: object): string {
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

const base: CheckResult = { portal: 'dvc', site: 'primary', check: 'home', vantage: 'hn', at: 1_764_000_000_000, intervalMs: 10_000, ok: true, durationMs: 12.5, status: 200 };

describe('canonicalResult', () => {
  it('is byte for byte the reference form for any JSON-like object, undefined fields and a sig included', () => {
    // Index-like keys ("0", "10") are listed first by any object, so they are where an ordering slip would show.
    const key = fc.oneof(fc.string(), fc.constantFrom('0', '7', '10', '4294967294', '4294967295', '-1', '01', '1.5', '__proto__'));
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined)),
      node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(key, tie('node'), { maxKeys: 4 })),
    }));
    fc.assert(
      fc.property(fc.dictionary(key, value.node, { maxKeys: 8 }), fc.option(fc.string()), (obj, sig) => {
        const r = sig === null ? obj : { ...obj, sig };
        expect(canonicalResult(r)).toBe(reference(r));
      }),
      { numRuns: 3000 },
    );
  });

  it('is the reference form for a full result, in any field order', () => {
    const r = { ...base, reason: undefined, detail: 'HTTP 503, expected 200', version: 'v1"\u00e9\u2028', blind: true, certExpiresAt: 1.5e12 };
    const reversed = Object.fromEntries(Object.entries(r).reverse());
    expect(canonicalResult(r)).toBe(reference(r));
    expect(canonicalResult(reversed)).toBe(canonicalResult(r));
    expect(canonicalResult(r)).not.toContain('reason');
  });
});

describe('signResult', () => {
  it('signs the reference bytes with the key as given (non-ASCII and empty keys too), and verifies', () => {
    for (const key of ['k3y', 'khóa-bí-mật', '']) {
      const signed = signResult(base, key);
      expect(signed.sig).toBe(`v1=${createHmac('sha256', key).update(reference(base)).digest('hex')}`);
      expect(verifyResultSignature(signed, () => key, { now: base.at, skewMs: 1000, maxAgeMs: 60_000 })).toEqual({ ok: true });
      expect(verifyResultSignature({ ...signed, status: 201 }, () => key, { now: base.at, skewMs: 1000, maxAgeMs: 60_000 })).toMatchObject({ ok: false, reason: 'bad_signature' });
    }
  });
});
