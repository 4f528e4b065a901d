import { Redis } from 'ioredis';
import { keys, StateStore } from '@portal-failover/shared';
import { startRecordingProxy } from '../support/recording-proxy';
import { sharedPowerDns } from '../support/powerdns-server';
import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, sleep, type PortalFixture } from '../support/e2e';
import { spawnService, writeConfigFile, type ServiceProcess } from '../support/processes';
import { sharedRedisUrl } from '../support/redis-server';

jest.setTimeout(120_000);

let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
let fx: PortalFixture[] = [];
let redis: Redis;
const procs: ServiceProcess[] = [];

beforeAll(async () => {
  proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
  redis = new Redis(sharedRedisUrl());
});

afterAll(async () => {
  await Promise.all(procs.map((x) => x.stop()));
  await Promise.all(fx.flatMap((p) => [p.primary.close(), p.standby.close()]));
  await proxy?.close();
  redis?.disconnect();
});

it('two controllers on one Redis: exactly one executes each operation, also across a leader change', async () => {
  fx = await Promise.all(['duo-a', 'duo-b', 'duo-c'].map((id) => portalFixture(id)));
  const raw = e2eRawConfig(fx, { apiUrl: proxy.url, controller: { leaseTtl: '2s', renewEvery: '500ms' } });
  const store = new StateStore(redis, keys((raw.redis as { prefix: string }).prefix));
  const file = writeConfigFile(raw);
  const writes = (p: PortalFixture) => proxy.writes(encodeURIComponent(p.zone)).length;

  procs.push(spawnService('checker', file));
  const c1 = spawnService('controller', file);
  const c2 = spawnService('controller', file);
  procs.push(c1, c2);
  await waitFor(async () => (await Promise.all(fx.map((p) => store.loadState(p.id)))).every((s) => s?.phase === 'healthy'), {
    timeoutMs: 20_000,
    what: 'portals healthy',
  });
  const leaderOf = () => [c1, c2].filter((c) => /became leader/.test(c.output()));
  expect(leaderOf()).toHaveLength(1);

  // Two portals cut at once: each switched exactly once, by one controller.
  await Promise.all([fx[0].primary.setMode({ kind: 'refuse' }), fx[1].primary.setMode({ kind: 'status', status: 503 })]);
  for (const p of fx.slice(0, 2)) await waitFor(async () => (await p.answer())[0] === p.standbyAddress, { timeoutMs: 20_000, what: `${p.id} switched` });
  await sleep(3_000);
  expect(proxy.acceptedWrites(encodeURIComponent(fx[0].zone))).toHaveLength(1);
  expect(proxy.acceptedWrites(encodeURIComponent(fx[1].zone))).toHaveLength(1);
  const [leader] = leaderOf();
  const follower = leader === c1 ? c2 : c1;
  expect(leader.output()).toMatch(/duo-a.*switched primary -> standby, verified/);
  expect(follower.output()).not.toMatch(/switched primary -> standby/);

  // The leader goes away; the follower takes the lease with a higher fencing token and handles the next cut.
  await leader.stop();
  await waitFor(() => /became leader with fencing token (\d+)/.test(follower.output()), { timeoutMs: 10_000, what: 'follower takes over' });
  await fx[2].primary.setMode({ kind: 'refuse' });
  await waitFor(async () => (await fx[2].answer())[0] === fx[2].standbyAddress, { timeoutMs: 20_000, what: 'duo-c switched by the new leader' });
  await sleep(2_000);
  expect(proxy.acceptedWrites(encodeURIComponent(fx[2].zone))).toHaveLength(1);
  expect(writes(fx[0])).toBe(proxy.writes(encodeURIComponent(fx[0].zone)).length);
  expect(follower.output()).toMatch(/duo-c.*switched primary -> standby, verified/);
  // The earlier switches were not redone by the new leader.
  expect(proxy.acceptedWrites(encodeURIComponent(fx[0].zone))).toHaveLength(1);
  expect(proxy.acceptedWrites(encodeURIComponent(fx[1].zone))).toHaveLength(1);
});
