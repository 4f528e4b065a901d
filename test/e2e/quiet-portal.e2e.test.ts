import { createMetrics, parseConfig } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, testLogger, type PortalFixture } from '../support/e2e';

/**
 * The evaluation tick leaves a portal alone while nothing happens to it, for at most half its shortest check
 * interval (PortalRuntime.quietEvaluateMs). A change that only time brings, results going stale once the checker
 * stops, must still reach the portal's phase within that much of falling due. Checks every 4 s, stale after 2
 * intervals: due 8 s after the last probe, seen at most 2 s (half of 4 s) and a tick later.
 */
jest.setTimeout(90_000);

const INTERVAL_MS = 4_000;
const STALE_AFTER_MS = 2 * INTERVAL_MS;
const QUIET_MS = INTERVAL_MS / 2;

let fx: PortalFixture;
let app: AllInOne;

afterAll(async () => {
  await app?.stop();
  await Promise.all([fx?.primary.close(), fx?.standby.close()]);
});

it('a quiet portal still sees its results go stale within half an interval of it', async () => {
  fx = await portalFixture('quiet');
  const raw = e2eRawConfig([fx], { intervalMs: INTERVAL_MS, policy: { staleAfterIntervals: 2, recoveryThreshold: 1 } });
  const { REDIS_URL: _ignored, ...env } = process.env;
  app = await startAllInOne(parseConfig(raw, 'e2e', env), testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  const phase = () => app.controller.state(fx.id)?.phase;
  await waitFor(() => phase() === 'healthy', { timeoutMs: 30_000, what: 'the portal healthy' });
  // No more results: the newest probe started before this moment, so staleness is due by stoppedAt + 8 s.
  await app.checker!.stop();
  const stoppedAt = Date.now();
  await waitFor(() => phase() !== 'healthy', { timeoutMs: 30_000, intervalMs: 50, what: 'the portal to leave healthy once its results went stale' });
  const seenAfterMs = Date.now() - stoppedAt;
  console.log(`quiet portal: no_data ${seenAfterMs} ms after the checker stopped`);
  expect(phase()).toBe('no_data');
  // evaluateEvery is 250 ms in these tests; 1 s more for a loaded machine.
  expect(seenAfterMs).toBeLessThanOrEqual(STALE_AFTER_MS + QUIET_MS + 250 + 1_000);
});
