import { canonicalResult, signResult, type CheckResult } from '@portal-failover/shared';
import { RESULT_CLOCK_SKEW_MS, RESULT_MAX_AGE_MS, ResultAdmission } from './result-admission';

const NOW = 1_700_000_000_000;
const keys = new Map([
  ['hn-1', 'key-hn'],
  ['hcm-1', 'key-hcm'],
]);
const result = (over: Partial<CheckResult> = {}): CheckResult => ({
  portal: 'dvc', site: 'primary', check: 'http-0', vantage: 'hn-1', ok: false, at: NOW, durationMs: 3, intervalMs: 1000, reason: 'refused', ...over,
});

describe('result admission', () => {
  it('takes a result signed with its vantage key once, without the signature', () => {
    const a = new ResultAdmission(keys);
    const signed = signResult(result(), 'key-hn');
    expect(signed.sig).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(a.admit(signed, NOW)).toEqual({ ok: true, result: result() });
    expect(a.admit({ ...signed }, NOW + 5)).toMatchObject({ ok: false, reason: 'replayed' });
  });

  it.each([
    ['unsigned', result(), 'unsigned'],
    ['signed with another vantage key', signResult(result(), 'key-hcm'), 'bad_signature'],
    ['altered after signing', { ...signResult(result(), 'key-hn'), ok: true }, 'bad_signature'],
    ['re-labelled as another vantage', { ...signResult(result(), 'key-hn'), vantage: 'hcm-1' }, 'bad_signature'],
    ['from an undeclared vantage', signResult(result({ vantage: 'rogue' }), 'key-hn'), 'undeclared_vantage'],
    ['an hour ahead', signResult(result({ at: NOW + 3_600_000 }), 'key-hn'), 'future'],
    ['older than the replay window', signResult(result({ at: NOW - RESULT_MAX_AGE_MS - 1 }), 'key-hn'), 'expired'],
  ])('refuses a result %s', (_what, r, reason) => {
    expect(new ResultAdmission(keys).admit(r, NOW)).toMatchObject({ ok: false, reason });
  });

  it('allows a little clock skew ahead', () => {
    expect(new ResultAdmission(keys).admit(signResult(result({ at: NOW + RESULT_CLOCK_SKEW_MS }), 'key-hn'), NOW).ok).toBe(true);
  });

  it('signs a canonical form: field order does not matter, the signature field is not signed', () => {
    const r = result();
    const reordered = Object.fromEntries(Object.entries(r).reverse());
    expect(canonicalResult(reordered)).toBe(canonicalResult(r));
    expect(canonicalResult({ ...r, sig: 'x' })).toBe(canonicalResult(r));
  });
});
