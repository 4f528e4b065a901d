import { startRecordingProxy } from '../support/recording-proxy';
import { sharedPowerDns } from '../support/powerdns-server';
import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, sleep, type PortalFixture } from '../support/e2e';
import { startControllerCluster, type ControllerCluster } from '../support/controller-cluster';

jest.setTimeout(120_000);

let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
let fx: PortalFixture[] = [];
let cluster: ControllerCluster | undefined;

beforeAll(async () => {
  proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
});

afterAll(async () => {
  await cluster?.stop();
  await Promise.all(fx.flatMap((p) => [p.primary.close(), p.standby.close()]));
  await proxy?.close();
});

it('two controllers on one Redis: exactly one executes each operation, also across a leader change', async () => {
  fx = await Promise.all(['duo-a', 'duo-b', 'duo-c'].map((id) => portalFixture(id)));
  const raw = e2eRawConfig(fx, { apiUrl: proxy.url, controller: { leaseTtl: '2s', renewEvery: '500ms' } });
  const writes = (p: PortalFixture) => proxy.writes(encodeURIComponent(p.zone)).length;

  // Both start at once and race for the lease.
  cluster = await startControllerCluster(raw, { controllers: [{}, {}], healthy: fx.map((p) => p.id), timeoutMs: 20_000 });
  const [c1, c2] = cluster.controllers;
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
