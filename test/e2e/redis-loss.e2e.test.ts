import { createMetrics, type Metrics } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { waitFor } from '../support/free-port';
import { e2eConfig, portalFixture, testLogger, type PortalFixture } from '../support/e2e';
import { startRedis, type RedisServer } from '../support/redis-server';
import { reportRow } from '../chaos/report';

/**
 * Redis restarts EMPTY (no persistence, a new server, a promotion that lost writes). Before #8 every check stopped
 * for good and a new leader assumed sites[0] was serving. Here: the checks come back on their own within two
 * intervals, a surviving controller writes back what it remembers, a fresh controller adopts the site DNS points
 * to, and a later outage of that site still moves traffic.
 */
jest.setTimeout(150_000);

const INTERVAL = 2_000;
let redis: RedisServer;
let app: AllInOne | undefined;
let fx: PortalFixture;

afterAll(async () => {
  await app?.stop();
  await Promise.all([fx?.primary.close(), fx?.standby.close()]);
  await redis?.stop();
});

async function probesRun(metrics: Metrics): Promise<number> {
  const m = await metrics.checkDuration.get();
  return m.values.filter((v) => v.metricName === 'failover_check_duration_seconds_count').reduce((a, v) => a + v.value, 0);
}

async function counter(metrics: Metrics, name: 'schedulersRecreated'): Promise<number> {
  return (await metrics[name].get()).values.reduce((a, v) => a + v.value, 0);
}

it('after an empty Redis: checks resume within 2 intervals, the leader adopts where DNS points, and a later cut still moves traffic', async () => {
  redis = await startRedis({ appendonly: false });
  fx = await portalFixture('redis-loss');
  const config = e2eConfig([fx], { redisUrl: redis.url, intervalMs: INTERVAL, timeoutMs: 800, policy: { cooldown: '3s' } });
  const start = (metrics: Metrics) => startAllInOne(config, testLogger(), metrics);
  const metrics1 = createMetrics(undefined, { defaultMetrics: false });
  app = await start(metrics1);
  await waitFor(() => app!.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 30_000, what: 'healthy' });

  // Fail over to the standby, then let the primary recover (failback is manual: traffic stays on the standby).
  await fx.primary.setMode({ kind: 'refuse' });
  await waitFor(async () => (await fx.answer())[0] === fx.standbyAddress, { timeoutMs: 30_000, what: 'switched to the standby' });
  await fx.primary.setMode({ kind: 'ok' });

  // 1. Redis restarts empty under a running process: the schedulers are recreated and probes run again.
  await redis.restart();
  const back = Date.now();
  const before = await probesRun(metrics1);
  await waitFor(async () => (await probesRun(metrics1)) >= before + 2, { timeoutMs: 30_000, intervalMs: 50, what: 'probes of both sites ran again' });
  const resumedMs = Date.now() - back;
  process.stdout.write(`checks resumed ${resumedMs} ms after the empty Redis answered (interval ${INTERVAL} ms)\n`);
  expect(resumedMs).toBeLessThanOrEqual(2 * INTERVAL);
  // One job scheduler per shard of checks (services/checker/src/shard-plan.ts): this portal's two checks share one.
  expect(await counter(metrics1, 'schedulersRecreated')).toBeGreaterThanOrEqual(1);
  // The surviving leader wrote back what it remembered: it still knows traffic is on the standby.
  await waitFor(() => app!.controller.isLeader && app!.controller.state(fx.id)?.activeSite === 'standby' && app!.controller.state(fx.id)?.unknownRouting === undefined, {
    timeoutMs: 20_000,
    what: 'leader again, with traffic known to be on the standby',
  });

  // 2. A fresh controller on an empty Redis: no record, so it reads DNS and adopts the standby.
  await app.stop();
  app = undefined;
  await redis.restart();
  const metrics2 = createMetrics(undefined, { defaultMetrics: false });
  app = await start(metrics2);
  await waitFor(() => app!.controller.state(fx.id)?.activeSite === 'standby' && app!.controller.state(fx.id)?.unknownRouting === undefined, {
    timeoutMs: 20_000,
    what: 'the new leader adopted the standby from DNS',
  });
  await waitFor(() => app!.controller.state(fx.id)?.phase === 'failed_over', { timeoutMs: 30_000, what: 'phase failed_over' });
  expect((await metrics2.trafficInSync.get()).values.map((v) => v.value)).toEqual([1]);
  expect(await fx.answer()).toEqual([fx.standbyAddress]);

  // 3. The site it adopted goes down while the primary is healthy: traffic moves to the primary.
  await fx.standby.setMode({ kind: 'refuse' });
  await waitFor(async () => (await fx.answer())[0] === fx.primaryAddress, { timeoutMs: 40_000, what: 'traffic moved back to the healthy primary' });
  await waitFor(() => app!.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 20_000, what: 'healthy on the primary' });
  reportRow({
    case: 'Redis restarted empty (no persistence), under a running and under a fresh service',
    trials: 1,
    falseFailovers: 0,
    doubleExecutions: 0,
    leftFailingOver: 0,
    cutSwitchedAfter: 'yes',
    recovery: `checks resumed ${resumedMs} ms after Redis answered (interval ${INTERVAL} ms); fresh leader adopted the standby from DNS`,
  });
});
