import { createMetrics, isoInZone, parseConfig } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, testLogger, type PortalFixture } from '../support/e2e';

/**
 * Issue #10, risk windows' probeInterval through the real checker: checks configured at 3 s are probed every
 * 500 ms while the window is in force (from start − leadTime to its end) and at 3 s again after it. What the
 * controller sees is the interval each result reports; the site counts the probes it really received.
 */
jest.setTimeout(90_000);

let fx: PortalFixture;
let app: AllInOne;
let startsAt: number;

beforeAll(async () => {
  fx = await portalFixture('risk-probe');
  const raw = e2eRawConfig([fx], { intervalMs: 3000, timeoutMs: 400 });
  // 16 s before the lead time begins: room for the first results at 3 s even on a busy machine.
  startsAt = Math.ceil((Date.now() + 20_000) / 1000) * 1000;
  (raw.portals as Record<string, unknown>[])[0].riskWindows = [{ name: 'cut', start: isoInZone(startsAt, '+07:00'), duration: '8s', leadTime: '4s', lowerTtlTo: '5s', probeInterval: '500ms' }];
  const { REDIS_URL: _ignored, ...env } = process.env;
  app = await startAllInOne(parseConfig(raw, 'e2e', env), testLogger(), createMetrics(undefined, { defaultMetrics: false }));
});

afterAll(async () => {
  await app?.stop();
  await Promise.all([fx?.primary.close(), fx?.standby.close()]);
});

/** The interval the newest result of the primary's check reported (ms), as the controller holds it. */
function reportedInterval(): number | undefined {
  const byVantage = app.controller.state(fx.id)?.health.primary ?? {};
  return Object.values(byVantage).flatMap((checks) => Object.values(checks).map((h) => h.intervalMs))[0];
}

it('probes faster while the window is in force and at the configured interval before and after', async () => {
  await waitFor(() => reportedInterval() === 3000, { timeoutMs: 15_000, what: 'results at the configured 3 s' });
  expect(Date.now()).toBeLessThan(startsAt - 4_000);
  await waitFor(() => reportedInterval() === 500, { timeoutMs: 25_000, intervalMs: 100, what: 'results at the window\'s 500 ms' });
  expect(Date.now()).toBeGreaterThanOrEqual(startsAt - 4_000);
  // At 500 ms the site sees about two probes a second from this vantage (generously: more than four in 3 s).
  const before = fx.primary.requests;
  await new Promise((r) => setTimeout(r, 3_000));
  expect(fx.primary.requests - before).toBeGreaterThan(4);
  await waitFor(() => Date.now() >= startsAt + 8_000 && reportedInterval() === 3000, { timeoutMs: 25_000, intervalMs: 100, what: 'back to 3 s after the window' });
  expect(app.controller.state(fx.id)?.phase).toBe('healthy');
});
