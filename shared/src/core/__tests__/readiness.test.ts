import fc from 'fast-check';
import { admitSwitch, decide, settleOperation, type SwitchAction } from '../decide';
import { siteReadiness, versionTime } from '../readiness';
import { siteStatus } from '../health';
import { initialState, type PortalModel, type PortalState } from '../state';
import type { CheckResult } from '../observation';
import { feed, INTERVAL, model, result } from './fixtures';

/** Readiness gate: a site is an eligible target only when it is healthy and its readiness checks are up by quorum. */

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

/** primary and standby; the standby has a readiness check `ready-version` that must be within 1h of the primary. */
function gated(policy: Partial<PortalModel['policy']> = {}, sites = ['primary', 'standby']): PortalModel {
  const m = model(policy, sites);
  return {
    ...m,
    sites: m.sites.map((s, i) =>
      i === 0 ? s : { ...s, readiness: { checkNames: ['ready-version'], sameVersion: [{ check: 'ready-version', site: 'primary', maxLagMs: HOUR }] } },
    ),
  };
}

const withVersion = (r: CheckResult, version: string): CheckResult => ({ ...r, version });
const readyResult = (site: string, ok: boolean, at: number, version?: string, vantage = 'v1'): CheckResult => {
  const r = result(site, ok, at, vantage, 'ready-version');
  return version === undefined ? r : withVersion(r, version);
};

/** Both sites serving for a while, the primary publishing version `primaryVersion`, the standby `standbyVersion`. */
function serving(m: PortalModel, until: number, primaryVersion: string, standbyVersion: string | undefined, standbyReadyOk = true): PortalState {
  let s = initialState(m);
  for (let t = until - 4 * INTERVAL; t < until; t += INTERVAL) {
    s = feed(s, m, [withVersion(result('primary', true, t), primaryVersion), result('standby', true, t), readyResult('standby', standbyReadyOk, t, standbyVersion)]);
  }
  return s;
}

/** The primary fails `n` rounds from `from`; the standby keeps serving and reporting its version. */
function cut(m: PortalModel, s: PortalState, from: number, standbyVersion: string, n = 3): PortalState {
  const rs: CheckResult[] = [];
  for (let i = 0; i < n; i++) {
    const t = from + i * INTERVAL;
    rs.push(result('primary', false, t), result('standby', true, t), readyResult('standby', true, t, standbyVersion));
  }
  return feed(s, m, rs);
}

const start = T0 + 10 * INTERVAL;
const at = start + 3 * INTERVAL;
const v = (ms: number) => new Date(ms).toISOString();

describe('versionTime', () => {
  it.each([
    ['2026-07-03T17:00:00+07:00', Date.parse('2026-07-03T10:00:00Z')],
    ['1783000000', 1_783_000_000_000],
    ['1783000000123', 1_783_000_000_123],
    ['v1.2.3', undefined],
    ['', undefined],
  ])('%s', (text, ms) => expect(versionTime(text)).toBe(ms));
});

describe('siteReadiness', () => {
  const m = gated();

  it.each([
    { name: 'no readiness checks', site: 'primary', s: () => serving(m, start, v(T0), v(T0)), ready: true, why: /no readiness checks/ },
    { name: 'version within maxLag', site: 'standby', s: () => serving(m, start, v(T0), v(T0 - 30 * 60_000)), ready: true, why: /standby is ready/ },
    { name: 'version lags by more than maxLag', site: 'standby', s: () => serving(m, start, v(T0), v(T0 - 3 * HOUR)), ready: false, why: /readiness ready-version: content version .* is 3h behind primary's .* \(maxLag 60m\)/ },
    { name: 'readiness check failing', site: 'standby', s: () => serving(m, start, v(T0), v(T0), false), ready: false, why: /standby is not ready: readiness ready-version: connection refused/ },
    { name: 'no results for the readiness check', site: 'standby', s: () => feed(initialState(m), m, [result('standby', true, start)]), ready: false, why: /not confirmed up by quorum/ },
    { name: 'version is not a time', site: 'standby', s: () => serving(m, start, v(T0), 'build-42'), ready: false, why: /version "build-42" is not a time/ },
    {
      name: 'primary never reported a version: nothing to lag behind',
      site: 'standby',
      s: () => feed(initialState(m), m, [3, 2, 1].flatMap((i) => [result('primary', true, start - i * INTERVAL), readyResult('standby', true, start - i * INTERVAL, v(T0 - 5 * HOUR))])),
      ready: true,
      why: /standby is ready/,
    },
  ])('$name', ({ site, s, ready, why }) => {
    const r = siteReadiness(s().health, m, site, start);
    expect(r.ready).toBe(ready);
    expect(r.reason).toMatch(why);
  });

  it('compares with the primary\'s last known version even after the primary went down', () => {
    const s = cut(m, serving(m, start, v(T0), v(T0 - 2 * HOUR)), start, v(T0 - 2 * HOUR));
    expect(siteReadiness(s.health, m, 'standby', at)).toMatchObject({ ready: false });
  });
});

describe('decide with readiness', () => {
  const m = gated();

  it('fails over to a ready standby', () => {
    const d = decide(cut(m, serving(m, start, v(T0), v(T0)), start, v(T0)), m, at);
    expect(d.actions).toEqual([expect.objectContaining({ from: 'primary', to: 'standby', trigger: 'auto' })]);
  });

  it('does not fail over to a healthy standby that lags: NoReadyTarget, the reason names the readiness check', () => {
    const d = decide(cut(m, serving(m, start, v(T0), v(T0 - 2 * HOUR)), start, v(T0 - 2 * HOUR)), m, at);
    expect(d).toMatchObject({ analysis: 'NoReadyTarget', phase: 'both_down', actions: [] });
    expect(d.reason).toMatch(/primary is down.*no healthy site is ready \(standby is not ready: readiness ready-version: content version .* is 2h behind primary's/);
    expect(d.reason).toMatch(/a person can force/);
    expect(d.readiness.standby.ready).toBe(false);
  });

  it('fails over to the next ready site past one that is not ready', () => {
    const m3 = gated({}, ['primary', 'standby', 'dr']);
    let s = serving(m3, start, v(T0), v(T0 - 2 * HOUR));
    s = feed(s, m3, [0, 1, 2, 3].flatMap((i) => [result('dr', true, start - 4 * INTERVAL + i * INTERVAL), readyResult('dr', true, start - 4 * INTERVAL + i * INTERVAL, v(T0))]));
    s = cut(m3, s, start, v(T0 - 2 * HOUR));
    s = feed(s, m3, [0, 1, 2].flatMap((i) => [result('dr', true, start + i * INTERVAL), readyResult('dr', true, start + i * INTERVAL, v(T0))]));
    expect(decide(s, m3, at).actions).toEqual([expect.objectContaining({ to: 'dr' })]);
  });

  it('readiness never makes a site down: a failing readiness check leaves the active site serving', () => {
    const s = serving(m, start, v(T0), v(T0), false);
    const d = decide({ ...s, activeSite: 'standby' }, m, start);
    expect(d.statuses.standby.status).toBe('up');
    expect(d.actions).toEqual([]);
  });
});

describe('admitSwitch with readiness', () => {
  const m = gated();
  const lagging = () => serving(m, start, v(T0), v(T0 - 2 * HOUR));

  it('refuses a manual switch to a site that is not ready, naming the readiness check; force passes', () => {
    const no = admitSwitch(lagging(), m, { operationId: 'op', trigger: 'manual', to: 'standby', force: false }, start);
    expect(no.ok).toBe(false);
    if (!no.ok) expect(no.reason).toMatch(/precondition failed: target ready: standby is not ready: readiness ready-version: .*\(force: true overrides this\)/);
    const forced = admitSwitch(lagging(), m, { operationId: 'op', trigger: 'manual', to: 'standby', force: true }, start);
    expect(forced).toMatchObject({ ok: true, to: 'standby' });
    if (forced.ok) expect(forced.reason).toMatch(/forced past the preconditions/);
  });

  it('an alert can neither pick nor force a site that is not ready', () => {
    for (const force of [false, true]) {
      const a = admitSwitch(lagging(), m, { operationId: 'op', trigger: 'alert', force, expectFrom: 'primary' }, start);
      expect(a.ok).toBe(false);
      if (!a.ok) expect(a.reason).toMatch(/precondition failed: target ready: standby is not ready: readiness ready-version/);
    }
  });
});

describe('readiness invariants (property-based)', () => {
  type Outcome = 'ok' | 'fail' | 'missing';
  const tick = fc.record({
    serving: fc.array(fc.constantFrom<Outcome>('ok', 'ok', 'fail', 'missing'), { minLength: 3, maxLength: 3 }),
    ready: fc.array(fc.constantFrom<Outcome>('ok', 'ok', 'fail', 'missing'), { minLength: 3, maxLength: 3 }),
    /** Hours the site's reported version is behind "now" (0 = current). */
    lagHours: fc.array(fc.constantFrom(0, 0, 0.5, 2, 5), { minLength: 3, maxLength: 3 }),
    settle: fc.constantFrom<'none' | 'ok' | 'failed'>('none', 'ok', 'failed'),
  });
  const scenario = fc.tuple(
    fc.record({ failureThreshold: fc.integer({ min: 1, max: 3 }), recoveryThreshold: fc.integer({ min: 1, max: 3 }), autoFailback: fc.boolean() }),
    fc.array(tick, { minLength: 1, maxLength: 60 }),
  );

  it('never switches automatically to a site that is not ready (nor unhealthy)', () => {
    fc.assert(
      fc.property(scenario, ([p, ticks]) => {
        const base = gated({ failureThreshold: p.failureThreshold, recoveryThreshold: p.recoveryThreshold, autoFailback: p.autoFailback, cooldownMs: 0 }, ['primary', 'standby', 'dr']);
        // Every site is gated against the primary's version, the primary against the standby's.
        const m: PortalModel = {
          ...base,
          sites: base.sites.map((s, i) => ({ ...s, readiness: { checkNames: ['ready-version'], sameVersion: [{ check: 'ready-version', site: i === 0 ? 'standby' : 'primary', maxLagMs: HOUR }] } })),
        };
        let s: PortalState = initialState(m);
        const events: { now: number; action: SwitchAction; before: PortalState }[] = [];
        ticks.forEach((t, i) => {
          const now = T0 + i * INTERVAL;
          const rs = m.sites.flatMap((site, si) => [
            ...(t.serving[si] === 'missing' ? [] : [result(site.name, t.serving[si] === 'ok', now)]),
            ...(t.ready[si] === 'missing' ? [] : [readyResult(site.name, t.ready[si] === 'ok', now, v(now - t.lagHours[si] * HOUR))]),
          ]);
          s = feed(s, m, rs);
          if (s.inflight && t.settle !== 'none') s = settleOperation(s, { operationId: s.inflight.operationId, to: s.inflight.to, ok: t.settle === 'ok' });
          const before = s;
          const d = decide(s, m, now);
          for (const action of d.actions) events.push({ now, action, before });
          s = d.next;
        });
        for (const { now, action, before } of events) {
          const target = m.sites.find((x) => x.name === action.to)!;
          expect(siteStatus(before.health, target.name, target.checkNames, m.policy, now).status).toBe('up');
          expect(siteReadiness(before.health, m, target.name, now).ready).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
