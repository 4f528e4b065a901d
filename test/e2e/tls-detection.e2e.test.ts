import { X509Certificate } from 'node:crypto';
import { Redis } from 'ioredis';
import { createMetrics, keys, parseConfig, StateStore } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { waitFor } from '../support/free-port';
import { sharedRedisUrl } from '../support/redis-server';
import { e2eRawConfig, portalFixture, sleep, testLogger, type PortalFixture } from '../support/e2e';
import { PortalSite } from '../support/portal-site';
import { TestPki, type IssuedCert } from '../support/test-pki';

/**
 * Issue #10, tls acceptance, through the real checker and controller on real PowerDNS: the primary is an HTTPS
 * server with a certificate from a CA made in the test. Swapping it for a hosting provider's self-signed
 * certificate, or for an expired one, moves the DNS answer to the standby; one 10 days from expiry only sets the
 * expiry metric (the alert rule warns) and moves nothing.
 */
jest.setTimeout(120_000);

const names = ['swapped', 'expired', 'expiring'] as const;
type Name = (typeof names)[number];

let pki: TestPki;
let good: IssuedCert;
let fx: Record<Name, PortalFixture>;
let sites: Record<Name, PortalSite>;
let app: AllInOne;
let redis: Redis;
let store: StateStore;

const phase = (p: PortalFixture) => app.controller.state(p.id)?.phase;

beforeAll(async () => {
  pki = await TestPki.create('Portal Test CA');
  good = await pki.issueForDays('portal.test', 90);
  const list = await Promise.all(names.map((n) => portalFixture(`tls-${n}`)));
  fx = Object.fromEntries(names.map((n, i) => [n, list[i]])) as Record<Name, PortalFixture>;
  const started = await Promise.all(names.map(() => PortalSite.start(good)));
  sites = Object.fromEntries(names.map((n, i) => [n, started[i]])) as Record<Name, PortalSite>;
  // The fixture's simulated primaries are not used: the HTTPS sites stand in for them.
  await Promise.all(list.map((p) => p.primary.close()));

  const raw = e2eRawConfig(list);
  const portals = raw.portals as { sites: { checks: unknown[] }[] }[];
  names.forEach((n, i) => {
    portals[i].sites[0].checks = [
      { type: 'tls', name: 'cert', host: '127.0.0.1', port: sites[n].port, ca: pki.caCertPath, interval: '1s', timeout: '500ms', expect: { issuer: 'Portal Test CA', minDaysLeft: 14 } },
    ];
  });
  redis = new Redis(sharedRedisUrl());
  store = new StateStore(redis, keys((raw.redis as { prefix: string }).prefix));
  const { REDIS_URL: _ignored, ...env } = process.env;
  app = await startAllInOne(parseConfig(raw, 'e2e', env), testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  await waitFor(() => list.every((p) => phase(p) === 'healthy'), { timeoutMs: 30_000, what: 'all portals healthy' }).catch((err: Error) => {
    throw new Error(`${err.message}: ${list.map((p) => `${p.id}: ${app.controller.state(p.id)?.lastReason}`).join(' | ')}`);
  });
});

afterAll(async () => {
  await app?.stop();
  await Promise.all([...Object.values(fx ?? {}).map((p) => p.standby.close()), ...Object.values(sites ?? {}).map((s) => s.close())]);
  await pki?.remove();
  redis?.disconnect();
});

async function metricValue(series: string): Promise<number | undefined> {
  const text = await (await fetch(`${app.apiUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

it('switches on a swapped or expired certificate; warns without switching ten days from expiry', async () => {
  for (const n of names) expect(await fx[n].answer()).toEqual([fx[n].primaryAddress]);
  const [provider, expired, expiring] = await Promise.all([
    pki.selfSigned('Hosting Provider Suspension Proxy'),
    pki.issueForDays('portal.test', -1),
    pki.issueForDays('portal.test', 10),
  ]);
  sites.swapped.setCertificate(provider);
  sites.expired.setCertificate(expired);
  sites.expiring.setCertificate(expiring);

  for (const n of ['swapped', 'expired'] as const) {
    const p = fx[n];
    await waitFor(async () => (await p.answer())[0] === p.standbyAddress, { timeoutMs: 20_000, what: `${n}: DNS answer moves to the standby` });
  }
  // The operation's reason names what the checks saw: the provider's certificate, the expiry.
  const [swappedOp] = await store.recentOperations(fx.swapped.id, 1);
  expect(swappedOp?.reason).toContain('certificate issued by "Hosting Provider Suspension Proxy"');
  const [expiredOp] = await store.recentOperations(fx.expired.id, 1);
  expect(expiredOp?.reason).toContain('certificate expired at');
  // Three failed probes one interval apart decide the switch: detection is about two intervals, not minutes.
  for (const n of ['swapped', 'expired'] as const) {
    expect(await metricValue(`failover_detection_seconds_count{portal="${fx[n].id}"}`)).toBe(1);
    expect(await metricValue(`failover_detection_seconds_sum{portal="${fx[n].id}"}`)).toBeLessThan(10);
  }

  // The expiring certificate: the metric carries its expiry, and nothing moves while it keeps working.
  const expiresAt = Math.floor(Date.parse(new X509Certificate(expiring.cert).validTo) / 1000);
  const series = `failover_tls_cert_expiry_timestamp_seconds{portal="${fx.expiring.id}",site="primary",check="cert"}`;
  await waitFor(async () => (await metricValue(series)) === expiresAt, { timeoutMs: 10_000, what: 'expiry metric of the 10-day certificate' });
  await sleep(6_000); // six probes: twice the failure threshold
  expect(await fx.expiring.answer()).toEqual([fx.expiring.primaryAddress]);
  expect(phase(fx.expiring)).toBe('healthy');
  expect(await metricValue(`failover_check_up{portal="${fx.expiring.id}",site="primary",check="cert",vantage="v1"}`)).toBe(1);
  expect(await store.recentOperations(fx.expiring.id)).toEqual([]);
});
