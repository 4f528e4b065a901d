import { CaptureStore, createMetrics, createRedis, type ResponseCapture } from '@portal-failover/shared';
import type { Redis } from 'ioredis';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { waitFor } from '../support/free-port';
import { e2eConfig, portalFixture, testLogger, watchAnswers, type PortalFixture } from '../support/e2e';

/**
 * A portal that answers every other request with 503 at failureThreshold 2 (the 2 × 1 s setting): it must never
 * fail over, and the evidence of its first failure must not change what the checker sees. The capture used to be a
 * second request right after the failing probe; it took the portal's good answer, so the next probe failed too and
 * two failures in a row moved the traffic. The capture is now the failing probe's own response.
 */
jest.setTimeout(90_000);

let fx: PortalFixture;
let app: AllInOne;
let redis: Redis;
let prefix: string;

beforeAll(async () => {
  fx = await portalFixture('flap2');
  const config = e2eConfig([fx], { policy: { failureThreshold: 2 } });
  prefix = config.redis.prefix;
  redis = createRedis(config.redis, 'command');
  app = await startAllInOne(config, testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  await waitFor(() => app.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 20_000, what: 'the portal healthy' });
});

afterAll(async () => {
  await app?.stop();
  await redis?.quit();
  await Promise.all([fx?.primary.close(), fx?.standby.close()]);
});

it('never fails over a portal that fails every other request at threshold 2, and keeps the failing answer as evidence', async () => {
  const before = fx.primary.requests;
  const startedAt = Date.now();
  await fx.primary.setMode({ kind: 'alternate' });
  const answers = await watchAnswers(fx, 15_000);
  expect({ answers, phase: app.controller.state(fx.id)?.phase }).toEqual({ answers: [fx.primaryAddress], phase: 'healthy' });

  // One request per probe and none besides: about one a second (interval 1 s), never the doubling a second
  // request per failure would add.
  const requests = fx.primary.requests - before;
  expect(requests).toBeLessThanOrEqual(Math.ceil((Date.now() - startedAt) / 1000) + 1);

  const captures: ResponseCapture[] = await new CaptureStore(redis, prefix, 60_000).between(fx.id, startedAt, Date.now());
  expect(captures).toHaveLength(1);
  expect(captures[0]).toMatchObject({ site: 'primary', from: 'probe', status: 503, probe: { reason: 'status' } });
  expect(captures[0].body).toContain('Cổng dịch vụ công');
  expect(captures[0].headers?.['content-type']).toContain('text/html');
});
