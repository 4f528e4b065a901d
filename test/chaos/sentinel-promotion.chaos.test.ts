import { createMetrics, parseConfig, type Metrics } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { startRecordingProxy } from '../support/recording-proxy';
import { sharedPowerDns } from '../support/powerdns-server';
import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, sleep, testLogger, type PortalFixture } from '../support/e2e';
import { startSentinelCluster, type SentinelCluster } from '../support/sentinel-cluster';
import { reportRow } from './report';

/**
 * Redis Sentinel, one primary, one replica, three Sentinels, all real processes. The service connects only through
 * the Sentinels (redis.sentinels). The primary is SIGKILLed in the middle of normal operation: the Sentinels
 * promote the replica, every connection follows, checks resume, leadership moves at most once, nothing is switched
 * by mistake, and a real cut afterwards is switched exactly once.
 */
jest.setTimeout(180_000);

let cluster: SentinelCluster;
let app: AllInOne | undefined;
let fx: PortalFixture;
let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;

afterAll(async () => {
  await app?.stop();
  await Promise.all([fx?.primary.close(), fx?.standby.close(), proxy?.close()]);
  await cluster?.stop();
});

async function probesRun(metrics: Metrics): Promise<number> {
  const m = await metrics.checkDuration.get();
  return m.values.filter((v) => v.metricName === 'failover_check_duration_seconds_count').reduce((a, v) => a + v.value, 0);
}

it('a Sentinel promotion mid-operation: no false failover, checks resume, leadership moves at most once, a later cut is switched', async () => {
  cluster = await startSentinelCluster();
  proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
  fx = await portalFixture('sentinel');
  const raw = e2eRawConfig([fx], { apiUrl: proxy.url, controller: { leaseTtl: '8s', renewEvery: '2s' } });
  const prefix = (raw.redis as { prefix: string }).prefix;
  const { REDIS_URL: _ignored, ...env } = process.env;
  const config = parseConfig({ ...raw, redis: { sentinels: cluster.sentinels, name: cluster.name, prefix } }, 'chaos', env);
  const metrics = createMetrics(undefined, { defaultMetrics: false });
  app = await startAllInOne(config, testLogger(), metrics);
  await waitFor(() => app!.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 30_000, what: 'healthy through Sentinel' });
  const writes = () => proxy.acceptedWrites(encodeURIComponent(fx.zone)).length;
  const writesBefore = writes();

  // Count every time this controller becomes leader from now on.
  let becameLeader = 0;
  let wasLeader = app.controller.isLeader;
  const sampler = setInterval(() => {
    const now = app!.controller.isLeader;
    if (now && !wasLeader) becameLeader++;
    wasLeader = now;
  }, 50);

  await cluster.kill9(cluster.primaryPort);
  const killedAt = Date.now();
  await waitFor(async () => (await cluster.masterPort()) === cluster.replicaPort, { timeoutMs: 30_000, intervalMs: 100, what: 'Sentinel promoted the replica' });
  const promotedMs = Date.now() - killedAt;
  const promotedAt = Date.now();
  const before = await probesRun(metrics);
  await waitFor(async () => (await probesRun(metrics)) >= before + 2, { timeoutMs: 30_000, intervalMs: 100, what: 'probes run again after the promotion' });
  const checksBackMs = Date.now() - promotedAt;
  await waitFor(() => app!.controller.isLeader, { timeoutMs: 30_000, what: 'a leader after the promotion' });
  await waitFor(() => app!.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 30_000, what: 'healthy after the promotion' });
  await sleep(3_000);
  clearInterval(sampler);
  process.stdout.write(`promotion after ${promotedMs} ms; checks back ${checksBackMs} ms after it; became leader ${becameLeader} time(s)\n`);
  expect(becameLeader).toBeLessThanOrEqual(1);
  expect(writes()).toBe(writesBefore);

  // A real cut after the promotion is switched, once.
  await fx.primary.setMode({ kind: 'refuse' });
  await waitFor(async () => (await fx.answer())[0] === fx.standbyAddress, { timeoutMs: 30_000, what: 'the cut after the promotion is switched' });
  await sleep(2_000);
  expect(writes()).toBe(writesBefore + 1);
  expect(app.controller.state(fx.id)?.phase).toBe('failed_over');
  reportRow({
    case: 'Sentinel promotion (1 primary, 1 replica, 3 Sentinels; primary SIGKILL)',
    trials: 1,
    falseFailovers: 0,
    doubleExecutions: 0,
    leftFailingOver: 0,
    cutSwitchedAfter: 'yes',
    recovery: `promoted after ${promotedMs} ms; checks resumed ${checksBackMs} ms after; leadership changes ${becameLeader}`,
  });
});
