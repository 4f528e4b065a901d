import { parseConfig, checkName } from '@portal-failover/shared';
import { checkDueAt, planShards, type PlannedCheck } from './shard-plan';

function planned(portals: number, intervals: string[] = ['10s']): PlannedCheck[] {
  const raw = {
    portals: Array.from({ length: portals }, (_, i) => ({
      id: `p${i}`,
      name: `P${i}`,
      sites: ['primary', 'standby'].map((name) => ({
        name,
        provider: 'x',
        routing: { address: '192.0.2.1' },
        checks: intervals.map((interval) => ({ type: 'tcp', host: '192.0.2.1', port: 443, interval, timeout: '500ms' })),
      })),
      traffic: [{ kind: 'zonefile', path: '/tmp/x.zone', zone: 'x.test.', record: 'www.x.test.', type: 'A' }],
    })),
  };
  const config = parseConfig(raw, 'test', {});
  return config.portals.flatMap((p) =>
    p.sites.flatMap((s) => s.checks.map((c, i) => ({ id: `${p.id}.${s.name}.${checkName(c, i)}.${c.interval}`, portal: p.id, site: s.name, check: checkName(c, i), config: c, readiness: false }))),
  );
}

describe('planShards', () => {
  it('puts every check in exactly one shard of its interval, about shardSize per shard', () => {
    const checks = planned(5000, ['10s', '30s']);
    const shards = planShards(checks, 250);
    const seen = new Map<string, number>();
    for (const s of shards) for (const c of s.checks) seen.set(c.id, (seen.get(c.id) ?? 0) + 1);
    expect(seen.size).toBe(checks.length);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    for (const s of shards) {
      expect(s.checks.every((c) => c.config.interval === s.interval)).toBe(true);
      expect(s.count).toBe(40);
      // Hashing whole portals spreads them unevenly, but not wildly.
      expect(s.checks.length).toBeGreaterThan(150);
      expect(s.checks.length).toBeLessThan(350);
    }
  });

  it('gives all checks of one portal the same due time, and spreads the shards and portals over the interval', () => {
    const shards = planShards(planned(600), 100);
    const offsets = shards.map((s) => s.offset);
    expect(new Set(offsets).size).toBe(shards.length);
    expect(Math.min(...offsets)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...offsets)).toBeLessThan(10_000);
    for (const s of shards) {
      const due = new Map<string, Set<number>>();
      s.checks.forEach((c, i) => due.set(c.portal, (due.get(c.portal) ?? new Set()).add(checkDueAt(s, 0, i))));
      for (const times of due.values()) expect(times.size).toBe(1);
      // Due times stay inside the shard's share of the interval, so consecutive shards never overlap.
      expect(Math.max(...s.delays)).toBeLessThan(10_000 / s.count);
      expect(new Set(s.delays).size).toBe(due.size);
    }
  });

  it('is the same plan in every process, whatever order the config lists the portals in', () => {
    const checks = planned(300);
    const a = planShards(checks, 50);
    const b = planShards([...checks].reverse(), 50);
    const view = (shards: typeof a) => shards.map((s) => [s.schedulerId, s.offset, s.checks.map((c, i) => `${c.id}@${s.delays[i]}`).sort()]);
    expect(view(b)).toEqual(view(a));
  });
});

describe('window shards', () => {
  it('are named apart from the configured shards, so a risk window starting or ending never renames or replans those', () => {
    const checks = planned(600, ['10s']);
    const base = planShards(checks, 250);
    const moved = planShards(checks.slice(0, 4).map((c) => ({ ...c, config: { ...c.config, interval: 2000 } })), 250, true);
    expect(base.every((s) => s.schedulerId.startsWith('every-') && s.window === undefined)).toBe(true);
    expect(moved.map((s) => s.schedulerId)).toEqual(['window-every-2000ms-shard-0-of-1']);
    expect(moved[0].window).toBe(1);
    expect(moved[0].checks.map((c) => c.id).sort()).toEqual(checks.slice(0, 4).map((c) => c.id).sort());
    expect(planShards(checks, 250).map((s) => s.schedulerId)).toEqual(base.map((s) => s.schedulerId));
  });
});
