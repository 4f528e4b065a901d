import { createMetrics } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { waitFor } from '../support/free-port';
import { e2eConfig, portalFixture, sleep, testLogger, type PortalFixture } from '../support/e2e';
import { startRedis, type RedisServer } from '../support/redis-server';

jest.setTimeout(120_000);

let redis: RedisServer;
let app: AllInOne | undefined;
let fx: PortalFixture[] = [];

afterAll(async () => {
  await app?.stop();
  await Promise.all(fx.flatMap((p) => [p.primary.close(), p.standby.close()]));
  await redis?.stop();
});

it('state survives a service restart and a Redis crash; the service rides out the outage and acts afterwards', async () => {
  redis = await startRedis({ appendonly: true });
  fx = await Promise.all(['persist-a', 'persist-b'].map((id) => portalFixture(id)));
  const [a, b] = fx;
  const config = e2eConfig(fx, { redisUrl: redis.url });
  const start = () => startAllInOne(config, testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  app = await start();
  await waitFor(() => fx.every((p) => app!.controller.state(p.id)?.phase === 'healthy'), { timeoutMs: 20_000, what: 'healthy' });

  await a.primary.setMode({ kind: 'refuse' });
  await waitFor(() => app!.controller.state(a.id)?.phase === 'failed_over', { timeoutMs: 20_000, what: 'portal a failed over' });
  const switchedAt = app.controller.state(a.id)!.cooldownStartedAt;
  expect(switchedAt).toBeDefined();
  await sleep(1_000); // one evaluateEvery so health streaks are saved too

  // A restart of the service: the new controller knows it is serving from the standby and is in cooldown.
  await app.stop();
  app = await start();
  await waitFor(() => app!.controller.isLeader, { timeoutMs: 10_000, what: 'leader again' });
  expect(app.controller.state(a.id)).toMatchObject({ activeSite: 'standby', cooldownStartedAt: switchedAt });
  await a.primary.setMode({ kind: 'ok' });

  // Redis dies hard and comes back with its AOF; nothing crashes, and the next outage is still handled.
  await redis.kill9();
  await sleep(3_000);
  await redis.restart();
  await waitFor(() => app!.controller.isLeader, { timeoutMs: 20_000, what: 'leader after the Redis restart' });
  expect(app.controller.state(a.id)?.activeSite).toBe('standby');
  await waitFor(() => app!.controller.state(b.id)?.phase === 'healthy', { timeoutMs: 20_000, what: 'portal b healthy again' });
  await b.primary.setMode({ kind: 'status', status: 503 });
  await waitFor(async () => (await b.answer())[0] === b.standbyAddress, { timeoutMs: 30_000, what: 'portal b switched after the Redis restart' });
  expect(await a.answer()).toEqual([a.standbyAddress]);
});
