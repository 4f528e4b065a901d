import { ZEROED_PORTAL_HISTOGRAMS_LIMIT } from '../config/metrics-budget';
import { scaleConfig } from '../../../test/support/scale-fixture';
import { createMetrics, metricsText } from './metrics';
import { zeroControllerMetrics } from './metrics-zero';

async function seriesOf(portals: number): Promise<Map<string, number>> {
  const m = createMetrics(undefined, { defaultMetrics: false });
  zeroControllerMetrics(m, scaleConfig({ portals, intervalMs: 10_000, targetUrl: 'http://127.0.0.1:9/', redisUrl: 'redis://127.0.0.1:6379', prefix: 'z' }));
  const out = new Map<string, number>();
  for (const line of (await metricsText(m)).split('\n')) {
    const name = /^(failover_[a-z_]+?)(_bucket|_sum|_count)?\{.*portal="p0"/.exec(line)?.[1];
    if (name) out.set(name, (out.get(name) ?? 0) + 1);
  }
  return out;
}

describe('the controller metrics exported at zero, within the cardinality budget', () => {
  it('zeroes the per-portal histograms up to the limit and the alerting counters always', async () => {
    const small = await seriesOf(ZEROED_PORTAL_HISTOGRAMS_LIMIT);
    expect(small.get('failover_switchovers_total')).toBe(18); // 2 routes x 3 triggers x 3 results
    expect(small.get('failover_detection_seconds')).toBeGreaterThan(0);
    expect(small.get('failover_switch_duration_seconds')).toBeGreaterThan(0);
    const large = await seriesOf(ZEROED_PORTAL_HISTOGRAMS_LIMIT + 2);
    expect(large.get('failover_switchovers_total')).toBe(18);
    expect(large.has('failover_detection_seconds')).toBe(false);
    expect(large.has('failover_switch_duration_seconds')).toBe(false);
  });
});
