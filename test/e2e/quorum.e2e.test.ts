import { Checker } from '@portal-failover/checker';
import { Controller } from '@portal-failover/controller';
import { closeServiceContext, createMetrics, createServiceContext, type ServiceContext } from '@portal-failover/shared';
import { startRecordingProxy } from '../support/recording-proxy';
import { sharedPowerDns } from '../support/powerdns-server';
import { waitFor } from '../support/free-port';
import { e2eConfig, portalFixture, sleep, testLogger, type PortalFixture } from '../support/e2e';

jest.setTimeout(120_000);

let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
let p: PortalFixture;
let ctx: ServiceContext;
let controller: Controller;
let checkers: Checker[] = [];

afterAll(async () => {
  await Promise.all(checkers.map((c) => c.stop()));
  await controller?.stop();
  if (ctx) await closeServiceContext(ctx);
  await p?.primary.close();
  await p?.standby.close();
  await proxy?.close();
});

it('quorum 2 over two vantages: failures seen from one vantage do not switch, from both they do', async () => {
  proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
  p = await portalFixture('quorum');
  const config = e2eConfig([p], { apiUrl: proxy.url, policy: { quorum: 2 } });
  const logger = testLogger();
  ctx = await createServiceContext(config, logger, createMetrics(undefined, { defaultMetrics: false }));
  controller = new Controller({ config, redis: ctx.redis, bullConnection: ctx.bullConnection, logger, metrics: ctx.metrics });
  checkers = ['hanoi', 'hcmc'].map((vantage) => new Checker({ config, vantage, bullConnection: ctx.bullConnection, logger, metrics: ctx.metrics }));
  await controller.start();
  await Promise.all(checkers.map((c) => c.start()));
  const state = () => controller.state(p.id)!;
  await waitFor(() => state().phase === 'healthy' && !/unknown|stale/.test(state().lastReason), { timeoutMs: 20_000, what: 'healthy on both vantages' });

  // A regional problem: only the Hanoi vantage sees the primary fail.
  p.primary.failVantages.add('hanoi');
  await waitFor(() => state().phase === 'degraded', { timeoutMs: 15_000, what: 'degraded on one vantage' });
  await sleep(6_000);
  expect(state()).toMatchObject({ phase: 'degraded', activeSite: 'primary' });
  expect(state().lastReason).toMatch(/down on hanoi.*up on hcmc.*quorum is 2/);
  expect(proxy.writes(encodeURIComponent(p.zone))).toHaveLength(0);
  expect(await p.answer()).toEqual([p.primaryAddress]);

  // Now both vantages agree.
  p.primary.failVantages.add('hcmc');
  await waitFor(async () => (await p.answer())[0] === p.standbyAddress, { timeoutMs: 20_000, what: 'switch once both vantages see it down' });
  expect(proxy.acceptedWrites(encodeURIComponent(p.zone))).toHaveLength(1);
  await waitFor(() => state().phase === 'failed_over', { timeoutMs: 5_000, what: 'failed_over' });
});
