import http from 'node:http';
import { createMetrics } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { startRecordingProxy } from '../support/recording-proxy';
import { sharedPowerDns } from '../support/powerdns-server';
import { waitFor } from '../support/free-port';
import { e2eConfig, portalFixture, sleep, testLogger, type PortalFixture } from '../support/e2e';
import { startRedis, type RedisServer } from '../support/redis-server';
import { reportRow } from './report';

/**
 * Redis paused (SIGSTOP: the socket stays open and nothing answers) for 15 s, 1.5x the 10 s lease TTL. Every
 * /metrics scrape answers within a second, the leader gauge drops to 0 before the TTL has passed, nothing moves
 * while blind, and after SIGCONT a real cut is switched exactly once.
 */
jest.setTimeout(150_000);

let redis: RedisServer;
let app: AllInOne | undefined;
let fx: PortalFixture;
let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;

afterAll(async () => {
  if (redis) process.kill(redis.pid, 'SIGCONT');
  await app?.stop();
  await Promise.all([fx?.primary.close(), fx?.standby.close(), proxy?.close()]);
  await redis?.stop();
});

function scrape(url: string): Promise<{ ms: number; body: string }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ ms: Date.now() - started, body }));
    });
    req.on('timeout', () => req.destroy(new Error('scrape took over 5 s')));
    req.on('error', reject);
  });
}

const gauge = (body: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(body)?.[1]);

it('Redis paused for 15 s: /metrics under 1 s, leader gauge 0 before the lease TTL, no switch while blind, a cut switched afterwards', async () => {
  redis = await startRedis({ appendonly: true });
  proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
  fx = await portalFixture('pause');
  const config = e2eConfig([fx], { redisUrl: redis.url, apiUrl: proxy.url, controller: { leaseTtl: '10s', renewEvery: '2s' } });
  app = await startAllInOne(config, testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  const metricsUrl = `${app.apiUrl}/metrics`;
  await waitFor(() => app!.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 30_000, what: 'healthy' });
  expect(gauge((await scrape(metricsUrl)).body, 'failover_redis_up')).toBe(1);
  const writesBefore = proxy.acceptedWrites(encodeURIComponent(fx.zone)).length;

  process.kill(redis.pid, 'SIGSTOP');
  const pausedAt = Date.now();
  const scrapes: { at: number; ms: number; leader: number; redisUp: number; stale: number }[] = [];
  while (Date.now() - pausedAt < 15_000) {
    const s = await scrape(metricsUrl);
    scrapes.push({ at: Date.now() - pausedAt, ms: s.ms, leader: gauge(s.body, 'failover_controller_leader'), redisUp: gauge(s.body, 'failover_redis_up'), stale: gauge(s.body, 'failover_queue_metrics_stale') });
    await sleep(250);
  }
  process.kill(redis.pid, 'SIGCONT');
  const resumedAt = Date.now();

  const slowest = Math.max(...scrapes.map((s) => s.ms));
  const leaderZeroAt = scrapes.find((s) => s.leader === 0)?.at;
  process.stdout.write(`paused 15 s: ${scrapes.length} scrapes, slowest ${slowest} ms; leader gauge 0 at ${leaderZeroAt} ms (lease TTL 10000 ms)\n`);
  expect(slowest).toBeLessThan(1_000);
  expect(leaderZeroAt).toBeDefined();
  expect(leaderZeroAt!).toBeLessThan(10_000);
  // Once down it stays down while Redis is paused, and Redis is reported down.
  expect(scrapes.filter((s) => s.at > leaderZeroAt! && s.leader !== 0)).toEqual([]);
  expect(scrapes.filter((s) => s.at > 2_000).every((s) => s.redisUp === 0)).toBe(true);
  expect(scrapes.some((s) => s.stale === 1)).toBe(true);

  // Redis returns: leadership comes back, nothing was written while blind, and a real cut is switched once.
  await waitFor(() => app!.controller.isLeader, { timeoutMs: 30_000, what: 'leader again after SIGCONT' });
  const leaderBackMs = Date.now() - resumedAt;
  expect(proxy.acceptedWrites(encodeURIComponent(fx.zone)).length).toBe(writesBefore);
  await waitFor(() => app!.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 30_000, what: 'healthy again' });
  await fx.primary.setMode({ kind: 'refuse' });
  await waitFor(async () => (await fx.answer())[0] === fx.standbyAddress, { timeoutMs: 30_000, what: 'the cut after the pause is switched' });
  await sleep(2_000);
  expect(proxy.acceptedWrites(encodeURIComponent(fx.zone)).length).toBe(writesBefore + 1);
  expect(app.controller.state(fx.id)?.phase).not.toBe('failing_over');
  reportRow({
    case: 'Redis SIGSTOP 15 s (1.5x lease TTL)',
    trials: 1,
    falseFailovers: 0,
    doubleExecutions: 0,
    leftFailingOver: 0,
    cutSwitchedAfter: 'yes',
    recovery: `leader 0 after ${leaderZeroAt} ms; leader again ${leaderBackMs} ms after SIGCONT; slowest scrape ${slowest} ms`,
  });
});
