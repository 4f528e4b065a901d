import { CheckResultSchema, parsePortalState } from '../records';
import { initialState } from '../state';
import { model } from './fixtures';

const m = model();
const saved = { ...initialState(m), activeSite: 'standby', phase: 'failed_over' as const, lastReason: 'switched' };

describe('stored records are parsed when read back', () => {
  it('a saved portal state parses to itself', () => {
    const s = { ...saved, cooldownStartedAt: 1_700_000_000_000, ackedAt: 1_700_000_001_000 };
    expect(parsePortalState(JSON.parse(JSON.stringify(s)))).toEqual({ ok: true, value: s });
  });

  it('a state saved before the rename: lastAutoSwitchAt is read once as cooldownStartedAt and not kept', () => {
    const r = parsePortalState({ ...saved, lastAutoSwitchAt: 1_700_000_000_000 });
    expect(r).toEqual({ ok: true, value: { ...saved, cooldownStartedAt: 1_700_000_000_000 } });
    // Both present (a newer writer): the new field wins.
    expect(parsePortalState({ ...saved, lastAutoSwitchAt: 1, cooldownStartedAt: 2 })).toEqual({ ok: true, value: { ...saved, cooldownStartedAt: 2 } });
  });

  it.each([
    ['not an object', 'hello', /^\(record\): /],
    ['no active site', { ...saved, activeSite: undefined }, /^activeSite: /],
    ['unknown phase', { ...saved, phase: 'sideways' }, /^phase: /],
    ['a health entry of the wrong shape', { ...saved, health: { primary: { v1: { 'http-0': { verdict: 'maybe' } } } } }, /^health\.primary\.v1\.http-0\.verdict: /],
    ['an in-flight operation without its id', { ...saved, inflight: { from: 'primary', to: 'standby', trigger: 'auto', since: 1 } }, /^inflight\.operationId: /],
  ])('refuses %s, naming the field', (_what, value, error) => {
    const r = parsePortalState(value);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });

  it('a check result from the queue keeps every field it was signed with', () => {
    const r = { portal: 'p', site: 's', check: 'c', vantage: 'v', ok: true, at: 1, durationMs: 2, intervalMs: 1000, sig: 'v1=ab', extra: 1 };
    expect(CheckResultSchema.loose().parse(r)).toEqual(r);
    expect(CheckResultSchema.safeParse({ ...r, intervalMs: 0 }).success).toBe(false);
    expect(CheckResultSchema.safeParse({ ...r, version: 'x'.repeat(201) }).success).toBe(false);
  });
});
