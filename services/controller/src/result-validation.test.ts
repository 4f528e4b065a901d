import { parseCheckResult } from './result-validation';

const good = { portal: 'p', site: 's', check: 'http-0', vantage: 'v1', ok: false, at: 1_700_000_000_000, durationMs: 12, intervalMs: 1000, reason: 'refused', detail: 'connection refused', sig: 'v1=00' };

describe('check results taken from the queue', () => {
  it('a well-formed result is taken with every field, the signature too', () => {
    expect(parseCheckResult(good)).toEqual(good);
  });

  it.each([
    ['not an object', 'hello', /^\(record\): /],
    ['an empty portal', { ...good, portal: '' }, /^portal: /],
    ['ok not a boolean', { ...good, ok: 'yes' }, /^ok: /],
    ['a non-finite time', { ...good, at: Number.POSITIVE_INFINITY }, /^at: /],
    ['a zero interval', { ...good, intervalMs: 0 }, /^intervalMs: /],
    ['an unknown failure reason', { ...good, reason: 'gremlins' }, /^reason: /],
    ['an overlong version', { ...good, version: 'x'.repeat(201) }, /^version: /],
  ])('refuses %s, naming the field', (_what, data, error) => {
    expect(parseCheckResult(data)).toMatch(error);
  });
});
