import { Resolver } from 'node:dns/promises';
import { Redis } from 'ioredis';
import { AuditLog, createMetrics, isoInZone, keys, parseConfig, StateStore, type Metrics } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { apiRawConfig, bearer, type PortalBody } from '../api/support';
import { waitFor } from '../support/free-port';
import { portalFixture, testLogger, type PortalFixture } from '../support/e2e';
import { sharedPowerDns } from '../support/powerdns-server';
import { sharedRedisUrl } from '../support/redis-server';

/**
 * Issue #10, risk windows through the real controller and API on real PowerDNS: a cut announced 20 s ahead with
 * leadTime 10s and lowerTtlTo 5s. The TTL served over DNS is 5 before the window starts and 30 (the configured
 * value) after it ends, while the answer stays on the primary: no traffic moves. One window is announced through
 * the API (as the data-centre's notice arrives), the other is written in the config file.
 */
jest.setTimeout(120_000);

let viaApi: PortalFixture;
let viaConfig: PortalFixture;
let app: AllInOne;
let redis: Redis;
let store: StateStore;
let audit: AuditLog;
let configStartsAt: number;
let metrics: Metrics;

/** The record's A answers with their TTLs, over real DNS from the test PowerDNS (a fresh resolver: no cache). */
async function served(fx: PortalFixture): Promise<{ addresses: string[]; ttl: number }> {
  const pdns = sharedPowerDns();
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers([`${pdns.dnsHost}:${pdns.dnsPort}`]);
  const answers = await r.resolve4(fx.record.slice(0, -1), { ttl: true });
  return { addresses: answers.map((a) => a.address).sort(), ttl: Math.max(...answers.map((a) => a.ttl)) };
}

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${app.apiUrl}${path}`, { ...init, headers: { authorization: bearer('operator'), 'content-type': 'application/json', ...(init.headers ?? {}) } });

beforeAll(async () => {
  [viaApi, viaConfig] = await Promise.all([portalFixture('risk-api'), portalFixture('risk-cfg')]);
  const raw = apiRawConfig([viaApi, viaConfig]);
  configStartsAt = Math.ceil((Date.now() + 25_000) / 1000) * 1000;
  const portals = raw.portals as Record<string, unknown>[];
  portals[1].riskWindows = [{ name: 'dc-notice', start: isoInZone(configStartsAt, '+07:00'), duration: '10s', leadTime: '10s', lowerTtlTo: '5s' }];
  redis = new Redis(sharedRedisUrl());
  const k = keys((raw.redis as { prefix: string }).prefix);
  store = new StateStore(redis, k);
  audit = new AuditLog(redis, k.audit, 86_400_000);
  const { REDIS_URL: _ignored, ...env } = process.env;
  metrics = createMetrics(undefined, { defaultMetrics: false });
  app = await startAllInOne(parseConfig(raw, 'e2e', env), testLogger(), metrics);
  await waitFor(() => app.controller.state(viaApi.id)?.phase === 'healthy' && app.controller.state(viaConfig.id)?.phase === 'healthy', { timeoutMs: 30_000, what: 'portals healthy' });
});

afterAll(async () => {
  await app?.stop();
  await Promise.all([viaApi, viaConfig].flatMap((fx) => (fx ? [fx.primary.close(), fx.standby.close()] : [])));
  redis?.disconnect();
});

/** The portal's risk-window.ttl audit entries, once there are at least `n` (each is written just after its change is saved). */
async function ttlEntries(portal: string, n: number) {
  return waitFor(async () => {
    const found = (await audit.query({ portal })).entries.filter((e) => e.type === 'risk-window.ttl');
    return found.length >= n ? found : undefined;
  }, { timeoutMs: 10_000, what: `${n} risk-window.ttl entries of ${portal}` });
}

/** The leader's failover_dns_ttl_lowered_seconds of a portal. */
async function loweredGauge(portal: string): Promise<number | undefined> {
  return (await metrics.dnsTtlLowered.get()).values.find((v) => v.labels.portal === portal)?.value;
}

/** Polls the served TTL until `want`, returning when it was first seen; every answer seen must be the primary's. */
async function ttlBecomes(fx: PortalFixture, want: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await served(fx);
    expect(s.addresses).toEqual([fx.primaryAddress]);
    if (s.ttl === want) return Date.now();
    if (Date.now() > deadline) throw new Error(`TTL of ${fx.record} stayed ${s.ttl}, never ${want}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

it('an announced window lowers the TTL before it starts and restores it after it ends; no traffic moves', async () => {
  expect((await served(viaApi)).ttl).toBe(30);
  // Whole seconds: the start is written to the second, as people write it.
  const startsAt = Math.ceil((Date.now() + 20_000) / 1000) * 1000;
  const start = isoInZone(startsAt, '+07:00');
  const res = await api(`/api/v1/portals/${viaApi.id}/risk-windows`, {
    method: 'POST',
    body: JSON.stringify({ name: 'billing-cutoff', start, duration: '10s', leadTime: '10s', lowerTtlTo: '5s', reason: 'hosting-a announced the cut' }),
  });
  expect(res.status).toBe(201);
  const created = (await res.json()) as { window: { start: string; end: string; phase: string; source: string } };
  expect(created.window).toMatchObject({ start, phase: 'scheduled', source: 'api' });
  expect(created.window.end).toBe(isoInZone(startsAt + 10_000, '+07:00'));

  const loweredAt = await ttlBecomes(viaApi, 5, 25_000);
  // Lowered within the lead time, before the window starts (the tick runs every 250 ms; 10 s of lead is plenty).
  expect(loweredAt).toBeLessThan(startsAt);
  expect(loweredAt).toBeGreaterThanOrEqual(startsAt - 10_000);
  // The leader records the change once it has read both records back, a moment after DNS serves it.
  const view = await waitFor(async () => {
    const v = (await (await api(`/api/v1/portals/${viaApi.id}`)).json()) as PortalBody;
    return v.ttlLowered ? v : undefined;
  }, { timeoutMs: 10_000, what: 'the portal view says the TTL is lowered' });
  expect(view.ttlLowered).toMatchObject({ ttl: 5, window: 'billing-cutoff' });
  expect(view.riskWindows.map((w) => [w.name, w.ttlLowered])).toEqual([['billing-cutoff', true]]);

  const restoredAt = await ttlBecomes(viaApi, 30, 30_000);
  expect(restoredAt).toBeGreaterThanOrEqual(startsAt + 10_000);
  type WindowList = { ttlLowered: unknown; windows: { name: string; phase: string }[] };
  const list = await waitFor(async () => {
    const l = (await (await api(`/api/v1/portals/${viaApi.id}/risk-windows`)).json()) as WindowList;
    return l.ttlLowered === null ? l : undefined;
  }, { timeoutMs: 10_000, what: 'the window list says the TTL is restored' });
  expect(list.ttlLowered).toBeNull();
  expect(list.windows).toEqual([expect.objectContaining({ name: 'billing-cutoff', phase: 'ended' })]);

  // No traffic moved: no operation at all, the primary still active, and the TTL changes audited and verified.
  expect(await store.recentOperations(viaApi.id)).toEqual([]);
  expect(app.controller.state(viaApi.id)?.activeSite).toBe('primary');
  // Audited just after the state is saved: wait for the second entry.
  const ttl = await ttlEntries(viaApi.id, 2);
  const entries = (await audit.query({ portal: viaApi.id })).entries;
  expect(ttl.map((e) => [(e.data as { ttl: unknown }).ttl, (e.data as { result: string }).result])).toEqual([
    [5, 'verified'],
    ['configured', 'verified'],
  ]);
  expect(entries.filter((e) => e.type === 'risk-window.phase').map((e) => (e.data as { phase: string }).phase)).toEqual(['preparing', 'active', 'ended']);
  expect(entries.some((e) => e.type === 'risk-window.added' && e.actor !== undefined)).toBe(true);
});

it('a window written in the config file does the same', async () => {
  // The first test took about 35 s, so this window is already preparing or past; wait for its end if needed.
  await waitFor(async () => Date.now() >= configStartsAt + 10_000 + 500, { timeoutMs: 60_000, what: 'config window over' });
  await ttlBecomes(viaConfig, 30, 20_000);
  const entries = await ttlEntries(viaConfig.id, 2);
  expect(entries.map((e) => [(e.data as { ttl: unknown }).ttl, (e.data as { result: string }).result])).toEqual([
    [5, 'verified'],
    ['configured', 'verified'],
  ]);
  expect(await store.recentOperations(viaConfig.id)).toEqual([]);
  expect((await served(viaConfig)).addresses).toEqual([viaConfig.primaryAddress]);
});

/** The leader's failover_risk_window_in_force series of a portal, as `window=value`. */
async function inForceSeries(portal: string): Promise<string[]> {
  const { values } = await metrics.riskWindowInForce.get();
  return values.filter((v) => v.labels.portal === portal).map((v) => `${String(v.labels.window)}=${v.value}`).sort();
}

it('a window withdrawn while in force restores the TTL and loses its in-force series (no stale 1 for the dashboard or the alert)', async () => {
  const start = isoInZone(Math.ceil((Date.now() + 600_000) / 1000) * 1000, '+07:00');
  const res = await api(`/api/v1/portals/${viaApi.id}/risk-windows`, {
    method: 'POST',
    body: JSON.stringify({ name: 'false-alarm', start, duration: '1h', leadTime: '1h', lowerTtlTo: '5s' }),
  });
  expect(res.status).toBe(201);
  await ttlBecomes(viaApi, 5, 15_000);
  expect(await inForceSeries(viaApi.id)).toEqual(['billing-cutoff=0', 'false-alarm=1']);
  await waitFor(async () => (await loweredGauge(viaApi.id)) === 5, { timeoutMs: 10_000, what: 'the lowered TTL gauge at 5' });

  const del = await api(`/api/v1/portals/${viaApi.id}/risk-windows/false-alarm`, { method: 'DELETE', body: JSON.stringify({ reason: 'the operator withdrew the notice' }) });
  expect(del.status).toBe(200);
  await ttlBecomes(viaApi, 30, 15_000);
  await waitFor(async () => (await inForceSeries(viaApi.id)).length === 1, { timeoutMs: 5_000, what: 'the withdrawn window\'s series removed' });
  expect(await inForceSeries(viaApi.id)).toEqual(['billing-cutoff=0']);
  await waitFor(async () => (await loweredGauge(viaApi.id)) === 0, { timeoutMs: 10_000, what: 'the lowered TTL gauge back at 0' });
});
