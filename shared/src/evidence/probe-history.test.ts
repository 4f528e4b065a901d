import { prefixedRedis } from '../../../test/support/prefixed-redis';
import type { CheckResult } from '../core/observation';
import { ProbeHistory } from './probe-history';

/** The probe history an evidence bundle reads, written by the leader's flushes to the run's real Redis. */

const { prefix, redis: db } = prefixedRedis('probes');

const result = (portal: string, at: number, ok = true): CheckResult => ({ portal, site: 'primary', check: 'http', vantage: 'v1', ok, at, durationMs: 12, intervalMs: 1000 });

describe('ProbeHistory', () => {
  it("keeps each portal's newest 2000 results, bounded in Redis, and reads a time range oldest first", async () => {
    const history = new ProbeHistory(db(), prefix);
    const key = (p: string) => `${prefix}:portal:${p}:probes`;
    // 2,345 results of `busy` in flushes of 7 (as ticks flush a few per portal), and 3 of `quiet` among them.
    let at = 1_000;
    for (let n = 0; n < 2345; ) {
      for (let i = 0; i < 7 && n < 2345; i++, n++) history.add(result('busy', at++, n % 10 !== 0));
      if (n % 700 === 0) history.add(result('quiet', at));
      await history.flush();
    }
    const stored = await db().llen(key('busy'));
    expect(stored).toBeGreaterThanOrEqual(2000);
    expect(stored).toBeLessThan(2000 + 100 + 7);
    const all = await history.between('busy', 0, Number.MAX_SAFE_INTEGER);
    // The newest 2000: results at 1,345 .. 3,344, oldest first.
    expect(all).toHaveLength(2000);
    expect(all[0].at).toBe(1_000 + 345);
    expect(all[1999].at).toBe(1_000 + 2344);
    expect(all.every((r, i) => i === 0 || r.at > all[i - 1].at)).toBe(true);
    expect(all.filter((r) => !r.ok)).toHaveLength(200);
    expect((await history.between('busy', 3_000, 3_009)).map((r) => r.at)).toEqual([3000, 3001, 3002, 3003, 3004, 3005, 3006, 3007, 3008, 3009]);
    expect(await history.between('quiet', 0, Number.MAX_SAFE_INTEGER)).toHaveLength(3);
  });
});
