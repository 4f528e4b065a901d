import { createLogger, createMetrics, decide, metricsText } from '@portal-failover/shared';
import { scaleConfig } from '../../../test/support/scale-fixture';
import { portalRuntimes } from './portal-runtime';
import { publishPortal, withdrawLeaderView } from './publish';

async function series(m: ReturnType<typeof createMetrics>, name: string): Promise<string[]> {
  return (await metricsText(m)).split('\n').filter((l) => l.startsWith(`${name}{`));
}

describe('publishPortal', () => {
  const config = scaleConfig({ portals: 2, intervalMs: 1000, targetUrl: 'http://127.0.0.1:9/', redisUrl: 'redis://127.0.0.1:6379', prefix: 'pub' });

  it('sets the gauges when what they show changes, and exports them all again after the view was withdrawn', async () => {
    const m = createMetrics();
    const rts = portalRuntimes(config, createLogger({ silent: true }), m);
    const rt = rts.get('p0')!;
    const d = decide(rt.state, rt.model, 1_000);
    rt.state = d.next;
    publishPortal(m, rt, d.statuses, d.readiness);
    const first = await series(m, 'failover_portal_phase');
    expect(first.length).toBeGreaterThan(0);
    expect(await series(m, 'failover_active_site')).toEqual(['failover_active_site{portal="p0",site="primary"} 1', 'failover_active_site{portal="p0",site="standby"} 0']);

    // Someone else moved the gauge (it must not happen, but it shows an unchanged view is not set again)...
    m.activeSite.set({ portal: 'p0', site: 'primary' }, 7);
    publishPortal(m, rt, d.statuses, d.readiness);
    expect(await series(m, 'failover_active_site')).toContain('failover_active_site{portal="p0",site="primary"} 7');
    // ...while a changed view is.
    rt.state = { ...rt.state, activeSite: 'standby' };
    publishPortal(m, rt, d.statuses, d.readiness);
    expect(await series(m, 'failover_active_site')).toEqual(['failover_active_site{portal="p0",site="primary"} 0', 'failover_active_site{portal="p0",site="standby"} 1']);

    withdrawLeaderView(m, rts.values());
    expect(await series(m, 'failover_active_site')).toEqual([]);
    publishPortal(m, rt, d.statuses, d.readiness);
    expect(await series(m, 'failover_active_site')).toEqual(['failover_active_site{portal="p0",site="primary"} 0', 'failover_active_site{portal="p0",site="standby"} 1']);
    expect(await series(m, 'failover_portal_phase')).toEqual(first);
  });
});
