import fc from 'fast-check';
import { decide, settleOperation, type SwitchAction } from '../decide';
import { siteStatus } from '../health';
import { initialState, type PortalState } from '../state';
import { feed, INTERVAL, model, result } from './fixtures';

const T0 = 1_700_000_000_000;

/** One simulated tick: per site and vantage a result that passed, failed or never arrived; maybe an op finishes. */
const tick = (sites: number, vantages: number) =>
  fc.record({
    outcomes: fc.array(fc.array(fc.constantFrom<'ok' | 'fail' | 'missing'>('ok', 'ok', 'fail', 'missing'), { minLength: vantages, maxLength: vantages }), {
      minLength: sites,
      maxLength: sites,
    }),
    settle: fc.constantFrom<'none' | 'ok' | 'failed'>('none', 'ok', 'ok', 'failed'),
  });

const scenario = fc
  .record({
    failureThreshold: fc.integer({ min: 1, max: 4 }),
    recoveryThreshold: fc.integer({ min: 1, max: 4 }),
    vantages: fc.integer({ min: 1, max: 3 }),
    quorumOffset: fc.integer({ min: 0, max: 2 }),
    cooldownIntervals: fc.integer({ min: 0, max: 30 }),
    autoFailback: fc.boolean(),
    sites: fc.integer({ min: 2, max: 3 }),
  })
  .chain((p) => fc.tuple(fc.constant(p), fc.array(tick(p.sites, p.vantages), { minLength: 1, maxLength: 80 })));

function simulate(p: {
  failureThreshold: number;
  recoveryThreshold: number;
  vantages: number;
  quorumOffset: number;
  cooldownIntervals: number;
  autoFailback: boolean;
  sites: number;
}, ticks: { outcomes: ('ok' | 'fail' | 'missing')[][]; settle: 'none' | 'ok' | 'failed' }[]) {
  const m = model(
    {
      failureThreshold: p.failureThreshold,
      recoveryThreshold: p.recoveryThreshold,
      quorum: Math.min(p.vantages, 1 + p.quorumOffset),
      cooldownMs: p.cooldownIntervals * INTERVAL,
      autoFailback: p.autoFailback,
    },
    ['primary', 'standby', 'dr'].slice(0, p.sites),
  );
  let s: PortalState = initialState(m);
  const events: { now: number; action: SwitchAction; before: PortalState }[] = [];
  ticks.forEach((t, i) => {
    const now = T0 + i * INTERVAL;
    const rs = t.outcomes.flatMap((vs, si) =>
      vs.flatMap((o, vi) => (o === 'missing' ? [] : [result(m.sites[si].name, o === 'ok', now, `v${vi}`)])),
    );
    s = feed(s, m, rs);
    if (s.inflight && t.settle !== 'none') s = settleOperation(s, { operationId: s.inflight.operationId, to: s.inflight.to, ok: t.settle === 'ok' });
    const before = s;
    const d = decide(s, m, now);
    for (const action of d.actions) events.push({ now, action, before });
    s = d.next;
  });
  return { m, events };
}

describe('decide invariants (property-based)', () => {
  it('never switches to a site that is not up by quorum, and only when the active site is down by quorum or a preferred site recovered', () => {
    fc.assert(
      fc.property(scenario, ([p, ticks]) => {
        const { m, events } = simulate(p, ticks);
        for (const { now, action, before } of events) {
          const target = m.sites.find((x) => x.name === action.to)!;
          expect(siteStatus(before.health, target.name, target.checkNames, m.policy, now).status).toBe('up');
          const active = m.sites.find((x) => x.name === action.from)!;
          const activeStatus = siteStatus(before.health, active.name, active.checkNames, m.policy, now);
          // Either the active site is down by quorum (failover), or it is fine and a preferred site came back
          // (failback), which only autoFailback allows.
          if (activeStatus.down.length < m.policy.quorum) {
            expect(m.policy.autoFailback).toBe(true);
            expect(m.sites.indexOf(target)).toBeLessThan(m.sites.indexOf(active));
          }
          expect(action.to).not.toBe(action.from);
          expect(before.inflight).toBeUndefined();
          expect(before.frozen).toBeUndefined();
        }
      }),
      { numRuns: 400 },
    );
  });

  it('never calls a site down while at least as many fresh vantages say up, nor up while as many say down', () => {
    const verdicts = fc.array(fc.constantFrom<'ok' | 'fail' | 'missing' | 'blind-fail'>('ok', 'fail', 'missing', 'blind-fail'), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(verdicts, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), (vs, quorum, rounds) => {
        const m = model({ quorum, failureThreshold: 1, recoveryThreshold: 1 });
        let s = initialState(m);
        for (let i = 0; i < rounds; i++) {
          const rs = vs.flatMap((o, v) =>
            o === 'missing' ? [] : [{ ...result('primary', o === 'ok', T0 + i * INTERVAL, `v${v}`), ...(o === 'blind-fail' ? { blind: true } : {}) }],
          );
          s = feed(s, m, rs);
        }
        const st = siteStatus(s.health, 'primary', ['http-0'], m.policy, T0 + rounds * INTERVAL);
        const down = vs.filter((o) => o === 'fail').length;
        const up = vs.filter((o) => o === 'ok').length;
        // Blind and missing vantages are no witnesses.
        expect(st.down.length).toBe(down);
        expect(st.up.length).toBe(up);
        if (st.status === 'down') expect(down >= quorum && down > up).toBe(true);
        if (st.status === 'up') expect(up >= quorum && up > down).toBe(true);
        if (down >= quorum && down > up) expect(st.status).toBe('down');
      }),
      { numRuns: 300 },
    );
  });

  it('makes at most one automatic switch per cooldown', () => {
    fc.assert(
      fc.property(scenario, ([p, ticks]) => {
        const { m, events } = simulate(p, ticks);
        for (let i = 1; i < events.length; i++) {
          expect(events[i].now - events[i - 1].now).toBeGreaterThanOrEqual(m.policy.cooldownMs);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('is deterministic: the same inputs give the same decision', () => {
    fc.assert(
      fc.property(scenario, ([p, ticks]) => {
        expect(simulate(p, ticks)).toEqual(simulate(p, ticks));
      }),
      { numRuns: 100 },
    );
  });

  it('never switches automatically while the routing is unknown, whatever the health; a verified switch makes it known', () => {
    fc.assert(
      fc.property(scenario, ([p, ticks]) => {
        const m = model({ failureThreshold: p.failureThreshold, quorum: 1, autoFailback: p.autoFailback });
        let s: PortalState = { ...initialState(m), unknownRouting: 'dns points to no configured site (203.0.113.9)' };
        ticks.forEach((t, i) => {
          const now = T0 + i * INTERVAL;
          s = feed(s, m, t.outcomes.slice(0, 2).flatMap((vs, si) => vs.flatMap((o, vi) => (o === 'missing' ? [] : [result(m.sites[si].name, o === 'ok', now, `v${vi}`)]))));
          const d = decide(s, m, now);
          expect(d.actions).toEqual([]);
          expect(d.phase).toBe('unknown_routing');
          expect(d.reason).toMatch(/routing is unknown \(dns points to no configured site/);
          s = d.next;
        });
        const manual = { ...s, inflight: { operationId: 'op', from: 'primary', to: 'standby', trigger: 'manual' as const, since: T0 } };
        expect(settleOperation(manual, { operationId: 'op', to: 'standby', ok: false }).unknownRouting).toBeDefined();
        expect(settleOperation(manual, { operationId: 'op', to: 'standby', ok: true })).toMatchObject({ activeSite: 'standby', unknownRouting: undefined });
      }),
      { numRuns: 200 },
    );
  });

  it('never acts while frozen', () => {
    fc.assert(
      fc.property(scenario, ([p, ticks]) => {
        const m = model({ failureThreshold: p.failureThreshold, quorum: 1 });
        let s: PortalState = { ...initialState(m), frozen: { reason: 'drill', actor: 'test', at: T0 } };
        ticks.forEach((t, i) => {
          const now = T0 + i * INTERVAL;
          s = feed(s, m, t.outcomes.slice(0, 2).flatMap((vs, si) => vs.flatMap((o, vi) => (o === 'missing' ? [] : [result(m.sites[si].name, o === 'ok', now, `v${vi}`)]))));
          const d = decide(s, m, now);
          expect(d.actions).toEqual([]);
          s = d.next;
        });
      }),
      { numRuns: 200 },
    );
  });
});
