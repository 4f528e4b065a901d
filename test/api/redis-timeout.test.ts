import request from 'supertest';
import { startRedis, type RedisServer } from '../support/redis-server';
import { portalFixture, type PortalFixture } from '../support/e2e';
import { apiConfig, bearer, bodyOf, startApiHarness, type ApiHarness, type ErrorBody } from './support';

/**
 * A Redis that stops answering (SIGSTOP: the socket stays open) makes a request that needs it answer 503 with
 * Retry-After once redis.commandTimeout passes: a retry may succeed, so it is not a 500. Alertmanager retries a 503.
 */
jest.setTimeout(60_000);

let server: RedisServer;
let fx: PortalFixture;
let h: ApiHarness;

beforeAll(async () => {
  server = await startRedis();
  fx = await portalFixture('redis-timeout');
  h = await startApiHarness(apiConfig([fx], { redisUrl: server.url }));
});
afterAll(async () => {
  process.kill(server.pid, 'SIGCONT');
  await h?.close();
  await fx?.primary.close();
  await fx?.standby.close();
  await server?.stop();
});

it('a paused Redis: 503 problem+json with Retry-After, and 200 again once it answers', async () => {
  expect((await request(h.server).get(`/api/v1/portals/${fx.id}`).set('Authorization', bearer('viewer'))).status).toBe(200);
  process.kill(server.pid, 'SIGSTOP');
  try {
    const res = await request(h.server).post(`/api/v1/portals/${fx.id}/freeze`).set('Authorization', bearer('operator')).send({ reason: 'while redis is paused' });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(bodyOf<ErrorBody>(res).detail).toBe('Redis did not answer in time; retry');
  } finally {
    process.kill(server.pid, 'SIGCONT');
  }
  const again = await request(h.server).post(`/api/v1/portals/${fx.id}/freeze`).set('Authorization', bearer('operator')).send({ reason: 'redis is back' });
  expect(again.status).toBe(200);
});
