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

  it('takes each probe of a check once, in any order, and forgets probes older than the replay window', () => {
    const a = new ResultAdmission(keys);
    const at = (t: number, over: Partial<CheckResult> = {}) => signResult(result({ at: t, ...over }), over.vantage === 'hcm-1' ? 'key-hcm' : 'key-hn');
    // Out of order (two checker processes, batches crossing): each probe is taken once.
    for (const t of [NOW - 3000, NOW - 1000, NOW - 2000, NOW]) expect(a.admit(at(t), NOW).ok).toBe(true);
    for (const t of [NOW - 3000, NOW - 2000, NOW - 1000, NOW]) expect(a.admit(at(t), NOW)).toMatchObject({ ok: false, reason: 'replayed' });
    // The same start time of another check, site or vantage is another probe.
    expect(a.admit(at(NOW, { check: 'http-1' }), NOW).ok).toBe(true);
    expect(a.admit(at(NOW, { site: 'standby' }), NOW).ok).toBe(true);
    expect(a.admit(at(NOW, { vantage: 'hcm-1' }), NOW).ok).toBe(true);
    // Past the window a copy is refused as expired, not remembered for ever; the memory of it is swept.
    const later = NOW + RESULT_MAX_AGE_MS + 60_001;
    expect(a.admit(at(NOW), later)).toMatchObject({ ok: false, reason: 'expired' });
    expect(a.admit(at(later), later).ok).toBe(true);
    expect(a.admit(at(later), later)).toMatchObject({ ok: false, reason: 'replayed' });
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
