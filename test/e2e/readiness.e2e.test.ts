import { Redis } from 'ioredis';
import { createMetrics, keys, parseConfig, StateStore } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { apiRawConfig, bearer, type PortalBody } from '../api/support';
import { waitFor } from '../support/free-port';
import { portalFixture, sleep, testLogger, type PortalFixture } from '../support/e2e';
import { PortalSite } from '../support/portal-site';
import { sharedRedisUrl } from '../support/redis-server';

/**
 * Issue #10, readiness acceptance through the real checker, controller and API on real PowerDNS. The primary
 * publishes its content version in the x-content-version header; the standby serves fine but its content is 3
 * hours older (its sync job stopped), and its readiness check compares with maxLag 1h. The primary's cut does not
 * move traffic to the stale standby (the reason names the readiness check); an operator's forced switch does.
 */
jest.setTimeout(120_000);

let fx: PortalFixture;
let primary: PortalSite;
let standby: PortalSite;
let app: AllInOne;
let redis: Redis;
let store: StateStore;

const phase = () => app.controller.state(fx.id)?.phase;

beforeAll(async () => {
  fx = await portalFixture('ready-gate');
  [primary, standby] = await Promise.all([PortalSite.start(), PortalSite.start()]);
  await Promise.all([fx.primary.close(), fx.standby.close()]);
  primary.headers['x-content-version'] = new Date().toISOString();
  standby.headers['x-content-version'] = new Date(Date.now() - 3 * 3_600_000).toISOString();

  const raw = apiRawConfig([fx]);
  const page = (url: string) => ({ type: 'http', name: 'page', url, interval: '1s', timeout: '500ms', expect: { bodyIncludes: ['Cổng dịch vụ công'] } });
  const portal = (raw.portals as Record<string, unknown>[])[0] as { sites: Record<string, unknown>[] };
  portal.sites[0].checks = [page(primary.url)];
  portal.sites[1].checks = [page(standby.url)];
  portal.sites[1].readiness = [
    { type: 'http', name: 'content-version', url: `${standby.url}version`, interval: '1s', timeout: '500ms', expect: { sameVersionAs: { site: 'primary', header: 'x-content-version', maxLag: '1h' } } },
  ];
  redis = new Redis(sharedRedisUrl());
  store = new StateStore(redis, keys((raw.redis as { prefix: string }).prefix));
  const { REDIS_URL: _ignored, ...env } = process.env;
  app = await startAllInOne(parseConfig(raw, 'e2e', env), testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  await waitFor(() => phase() === 'healthy', { timeoutMs: 30_000, what: 'portal healthy' });
});

afterAll(async () => {
  await app?.stop();
  await Promise.all([primary?.close(), standby?.close()]);
  redis?.disconnect();
});

async function metricValue(series: string): Promise<number | undefined> {
  const text = await (await fetch(`${app.apiUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

it('a standby lagging by more than maxLag does not take the primary\'s traffic automatically; force still moves it', async () => {
  // Healthy but not ready: shown on the portal view and the metric before anything fails.
  const view = async () => (await (await fetch(`${app.apiUrl}/api/v1/portals/${fx.id}`, { headers: { authorization: bearer('viewer') } })).json()) as PortalBody;
  const standbyView = async () => (await view()).sites.find((s) => s.name === 'standby');
  await waitFor(async () => /behind/.test((await standbyView())?.readiness?.reason ?? ''), { timeoutMs: 15_000, what: 'standby reported lagging' });
  expect(await standbyView()).toMatchObject({ status: 'up', readiness: { ready: false } });
  expect((await standbyView())?.readiness?.reason).toMatch(/readiness content-version: content version .* is 3h behind primary's/);
  expect(await metricValue(`failover_site_ready{portal="${fx.id}",site="standby"}`)).toBe(0);
  expect(await metricValue(`failover_site_ready{portal="${fx.id}",site="primary"}`)).toBe(1);

  await primary.close(); // the provider cuts the primary off
  await waitFor(() => /no healthy site is ready/.test(app.controller.state(fx.id)?.lastReason ?? ''), { timeoutMs: 20_000, what: 'cut seen, switch refused' });
  expect(phase()).toBe('both_down');
  expect(app.controller.state(fx.id)?.lastReason).toMatch(/standby is not ready: readiness content-version: content version .* behind primary's .* \(maxLag 60m\)/);
  await sleep(3_000);
  expect(await fx.answer()).toEqual([fx.primaryAddress]);
  expect(await store.recentOperations(fx.id)).toEqual([]);

  // An operator's switch without force is refused for the same reason; with force it goes through.
  const ask = (force: boolean) =>
    fetch(`${app.apiUrl}/api/v1/portals/${fx.id}/switchover`, {
      method: 'POST',
      headers: { authorization: bearer('operator'), 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'standby', reason: 'primary cut off; stale standby is better than nothing', force }),
    });
  const refused = await ask(false);
  expect(refused.status).toBe(409);
  expect(JSON.stringify(await refused.json())).toMatch(/precondition failed: target ready: standby is not ready: readiness content-version.*force: true overrides this/);
  const forced = await ask(true);
  expect(forced.status).toBe(202);
  await waitFor(async () => (await fx.answer())[0] === fx.standbyAddress, { timeoutMs: 20_000, what: 'forced switch moves the DNS answer' });
  await waitFor(async () => (await store.recentOperations(fx.id, 1))[0]?.status === 'succeeded', { timeoutMs: 10_000, what: 'forced operation succeeded' });
  const [op] = await store.recentOperations(fx.id, 1);
  expect(op).toMatchObject({ trigger: 'manual', to: 'standby', force: true });
});
