import { Redis } from 'ioredis';
import { createMetrics, generateLivenessKeys, keys, livenessPrivateKey, parseConfig, signLiveness, StateStore } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, sleep, testLogger, type PortalFixture } from '../support/e2e';
import { PortalSite } from '../support/portal-site';
import { sharedRedisUrl } from '../support/redis-server';

/**
 * Issue #10, liveness acceptance through the real checker and controller on real PowerDNS. Both primaries serve
 * the portal page and a token their own host re-signs every second. Then one primary turns into a static copy
 * (what a provider serves after the cut: the right page, the right words, a token signed 10 minutes ago) and,
 * with maxAge 2m, traffic moves to the standby; the primary that keeps signing keeps the traffic.
 */
jest.setTimeout(120_000);

const PATH = '/.well-known/portal-liveness';
const signer = generateLivenessKeys();
const key = livenessPrivateKey(signer.privateKeyPem);

let fx: { copy: PortalFixture; fresh: PortalFixture };
let sites: { copy: PortalSite; fresh: PortalSite };
let app: AllInOne;
let redis: Redis;
let store: StateStore;
const signing = new Set<'copy' | 'fresh'>(['copy', 'fresh']);
let timer: NodeJS.Timeout;

const phase = (p: PortalFixture) => app.controller.state(p.id)?.phase;

beforeAll(async () => {
  const [copy, fresh] = await Promise.all([portalFixture('live-copy'), portalFixture('live-fresh')]);
  fx = { copy, fresh };
  sites = { copy: await PortalSite.start(), fresh: await PortalSite.start() };
  await Promise.all([copy.primary.close(), fresh.primary.close()]);
  // The portal host's signer (what `portal-failover liveness write --every 1s` does, tested in test/checks).
  const sign = () => {
    for (const n of signing) sites[n].files.set(PATH, JSON.stringify(signLiveness(key, fx[n].id, new Date())));
  };
  sign();
  timer = setInterval(sign, 1000);

  const raw = e2eRawConfig([copy, fresh]);
  const portals = raw.portals as { sites: { checks: unknown[] }[] }[];
  (['copy', 'fresh'] as const).forEach((n, i) => {
    portals[i].sites[0].checks = [
      {
        type: 'http',
        name: 'page',
        url: sites[n].url,
        interval: '1s',
        timeout: '500ms',
        expect: { bodyIncludes: ['Cổng dịch vụ công'], liveness: { publicKey: signer.publicKeyBase64, maxAge: '2m' } },
      },
    ];
  });
  redis = new Redis(sharedRedisUrl());
  store = new StateStore(redis, keys((raw.redis as { prefix: string }).prefix));
  const { REDIS_URL: _ignored, ...env } = process.env;
  app = await startAllInOne(parseConfig(raw, 'e2e', env), testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  await waitFor(() => [copy, fresh].every((p) => phase(p) === 'healthy'), { timeoutMs: 30_000, what: 'both portals healthy' });
});

afterAll(async () => {
  clearInterval(timer);
  await app?.stop();
  await Promise.all([fx?.copy.standby.close(), fx?.fresh.standby.close(), sites?.copy.close(), sites?.fresh.close()]);
  redis?.disconnect();
});

it('a static copy with a 10-minute-old token moves traffic; a freshly signed portal keeps it', async () => {
  expect(await fx.copy.answer()).toEqual([fx.copy.primaryAddress]);
  signing.delete('copy');
  sites.copy.files.set(PATH, JSON.stringify(signLiveness(key, fx.copy.id, new Date(Date.now() - 10 * 60_000))));

  await waitFor(async () => (await fx.copy.answer())[0] === fx.copy.standbyAddress, { timeoutMs: 20_000, what: 'the static copy loses the traffic' });
  const [op] = await store.recentOperations(fx.copy.id, 1);
  expect(op?.reason).toMatch(/liveness token is \d+s old .* older than maxAge 120s/);

  await sleep(4_000); // more probes than the failure threshold, on the portal that keeps signing
  expect(await fx.fresh.answer()).toEqual([fx.fresh.primaryAddress]);
  expect(phase(fx.fresh)).toBe('healthy');
  expect(await store.recentOperations(fx.fresh.id)).toEqual([]);
});
