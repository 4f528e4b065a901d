import { runCli } from '../support/cli';
import { Redis } from 'ioredis';
import { startApi } from '@portal-failover/api';
import { createMetrics, keys } from '@portal-failover/shared';
import { portalFixture, testLogger, type PortalFixture } from '../support/e2e';
import { sharedRedisUrl } from '../support/redis-server';
import { apiConfig, bearer, TOKENS } from './support';

/** `GET /api/v1/audit/verify` and `portal-failover audit verify` over real API calls that wrote the chain. */
jest.setTimeout(60_000);

let fx: PortalFixture;
let redis: Redis;
let api: Awaited<ReturnType<typeof startApi>>;
let auditKey: string;

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const env = { ...process.env, PORTAL_FAILOVER_URL: api.url, PORTAL_FAILOVER_TOKEN: TOKENS.viewer };
  return runCli(args, env);
}

beforeAll(async () => {
  fx = await portalFixture('audit-verify');
  const config = apiConfig([fx]);
  auditKey = keys(config.redis.prefix).audit;
  redis = new Redis(sharedRedisUrl());
  api = await startApi({ config, redis, metrics: createMetrics(undefined, { defaultMetrics: false }), logger: testLogger() });
  for (let i = 0; i < 3; i++) {
    const headers = { authorization: bearer('operator'), 'content-type': 'application/json' };
    expect((await fetch(`${api.url}/api/v1/portals/${fx.id}/freeze`, { method: 'POST', headers, body: JSON.stringify({ reason: `drill ${i}` }) })).status).toBe(200);
    expect((await fetch(`${api.url}/api/v1/portals/${fx.id}/freeze`, { method: 'DELETE', headers, body: JSON.stringify({ reason: `done ${i}` }) })).status).toBe(200);
  }
});

afterAll(async () => {
  await api?.stop();
  redis?.disconnect();
  await Promise.all([fx?.primary.close(), fx?.standby.close()]);
});

it('says "N entries, chain intact, head <hash>", then names the entry after a deleted one and exits 1', async () => {
  const good = await cli(['audit', 'verify']);
  expect(good).toMatchObject({ code: 0, err: '' });
  expect(good.out).toMatch(/^6 entries, chain intact, head [0-9a-f]{64}\n$/);

  const ids = (await redis.xrange(auditKey, '-', '+')).map(([id]) => id);
  await redis.xdel(auditKey, ids[2]);
  const bad = await cli(['audit', 'verify']);
  expect(bad.code).toBe(1);
  expect(bad.out).toContain(`chain broken at entry ${ids[3]} (#4)`);
  expect(bad.out).toContain('missing (deleted)');

  const r = (await (await fetch(`${api.url}/api/v1/audit/verify`, { headers: { authorization: bearer('viewer') } })).json()) as { ok: boolean; broken?: { id: string } };
  expect(r).toMatchObject({ ok: false, broken: { id: ids[3] } });
  expect((await fetch(`${api.url}/api/v1/audit/verify`)).status).toBe(401);
});
