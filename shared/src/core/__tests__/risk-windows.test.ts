import fc from 'fast-check';
import { probeIntervalTarget, ttlAction, ttlTarget, windowInForce, windowPhase, type RiskWindow, type TtlLowered } from '../risk-windows';

const T0 = 1_800_000_000_000;
const S = 1000;

function win(name: string, startsAt: number, o: Partial<RiskWindow> = {}): RiskWindow {
  return { name, start: new Date(startsAt).toISOString(), startsAt, durationMs: 60 * S, leadTimeMs: 10 * S, lowerTtlTo: 5, source: 'config', ...o };
}

describe('windowPhase', () => {
  const w = win('cut', T0);
  it.each([
    [T0 - 10 * S - 1, 'scheduled'],
    [T0 - 10 * S, 'preparing'],
    [T0 - 1, 'preparing'],
    [T0, 'active'],
    [T0 + 60 * S - 1, 'active'],
    [T0 + 60 * S, 'ended'],
  ] as const)('at %d it is %s', (now, phase) => {
    expect(windowPhase(w, now)).toBe(phase);
  });
});

describe('ttlAction', () => {
  it('lowers from start − leadTime, holds, and restores once the window ends', () => {
    const w = [win('cut', T0)];
    expect(ttlAction(undefined, w, T0 - 11 * S)).toEqual({ kind: 'none' });
    expect(ttlAction(undefined, w, T0 - 10 * S)).toEqual({ kind: 'lower', ttl: 5, window: 'cut' });
    const lowered: TtlLowered = { ttl: 5, window: 'cut', at: T0 - 9 * S };
    expect(ttlAction(lowered, w, T0 + 30 * S)).toEqual({ kind: 'none' });
    expect(ttlAction(lowered, w, T0 + 60 * S)).toEqual({ kind: 'restore', from: lowered });
  });

  it('restores when the window is withdrawn while the TTLs are lowered', () => {
    const lowered: TtlLowered = { ttl: 5, window: 'cut', at: T0 };
    expect(ttlAction(lowered, [], T0 + S)).toEqual({ kind: 'restore', from: lowered });
  });

  it('takes the lowest TTL of overlapping windows, and moves to the next window\'s value when one ends', () => {
    const a = win('a', T0, { lowerTtlTo: 10, durationMs: 30 * S });
    const b = win('b', T0 + 20 * S, { lowerTtlTo: 3, durationMs: 60 * S, leadTimeMs: 0 });
    expect(ttlTarget([a, b], T0 + 25 * S)).toEqual({ ttl: 3, window: 'b' });
    expect(ttlAction({ ttl: 10, window: 'a', at: T0 }, [a, b], T0 + 25 * S)).toEqual({ kind: 'lower', ttl: 3, window: 'b' });
    expect(ttlTarget([a, b], T0 + 5 * S)).toEqual({ ttl: 10, window: 'a' });
  });

  it('asks for faster probes only while a window with probeInterval is in force', () => {
    const w = [win('cut', T0, { probeIntervalMs: 500 }), win('other', T0, { probeIntervalMs: 2000 })];
    expect(probeIntervalTarget(w, T0 - 11 * S)).toBeUndefined();
    expect(probeIntervalTarget(w, T0)).toBe(500);
    expect(probeIntervalTarget(w, T0 + 60 * S)).toBeUndefined();
  });

  // The leader applies an action, records what it did, and asks again: whatever the windows and the times the
  // ticks fall at, the TTLs are lowered for every instant some window is in force (from the first tick in it) and
  // never after every window ended (from the first tick after), and each action is the one a fresh leader would take.
  const windowArb = fc.record({
    start: fc.integer({ min: 0, max: 600 }),
    duration: fc.integer({ min: 1, max: 300 }),
    lead: fc.integer({ min: 0, max: 120 }),
    ttl: fc.integer({ min: 1, max: 60 }),
  });
  it('property: applied step by step, the lowered TTL always equals the lowest TTL of the windows in force', () => {
    fc.assert(
      fc.property(fc.array(windowArb, { maxLength: 4 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 60 }), (specs, steps) => {
        const windows = specs.map((s, i) => win(`w${i}`, T0 + s.start * S, { durationMs: s.duration * S, leadTimeMs: s.lead * S, lowerTtlTo: s.ttl }));
        let lowered: TtlLowered | undefined;
        let now = T0 - 200 * S;
        for (const step of steps) {
          now += step * S;
          const a = ttlAction(lowered, windows, now);
          if (a.kind === 'lower') lowered = { ttl: a.ttl, window: a.window, at: now };
          if (a.kind === 'restore') lowered = undefined;
          const inForce = windows.filter((w) => windowInForce(w, now));
          expect(lowered?.ttl).toBe(inForce.length ? Math.min(...inForce.map((w) => w.lowerTtlTo)) : undefined);
          expect(ttlAction(lowered, windows, now)).toEqual({ kind: 'none' });
        }
      }),
    );
  });
});
