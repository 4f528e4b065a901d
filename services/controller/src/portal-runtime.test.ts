import { scaleConfig } from '../../../test/support/scale-fixture';
import { quietEvaluateMs } from './portal-runtime';

describe('how long the evaluation tick may leave a quiet portal alone', () => {
  const portal = (intervalMs: number) => scaleConfig({ portals: 1, intervalMs, targetUrl: 'http://127.0.0.1:9/', redisUrl: 'redis://127.0.0.1:6379', prefix: 'q' }).portals[0];

  it('is half the shortest check interval, at least the tick period and at most 5 s', () => {
    expect(quietEvaluateMs(portal(1_000), 500)).toBe(500); // the tests' 1 s checks: every tick, as before
    expect(quietEvaluateMs(portal(4_000), 500)).toBe(2_000);
    expect(quietEvaluateMs(portal(10_000), 500)).toBe(5_000);
    expect(quietEvaluateMs(portal(60_000), 500)).toBe(5_000);
    expect(quietEvaluateMs(portal(1_000), 2_000)).toBe(2_000);
  });

  it('follows the shortest of every serving and readiness check of every site', () => {
    const p = portal(10_000);
    const fast = { ...p, sites: [p.sites[0], { ...p.sites[1], readiness: [{ ...p.sites[1].checks[0], interval: 2_000 }] }] };
    expect(quietEvaluateMs(fast, 500)).toBe(1_000);
  });
});
