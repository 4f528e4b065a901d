import { Redis } from 'ioredis';
import { ControlStore, createMetrics, keys, StateStore } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { startRecordingProxy } from '../support/recording-proxy';
import { sharedPowerDns } from '../support/powerdns-server';
import { waitFor } from '../support/free-port';
import { e2eConfig, portalFixture, sleep, testLogger, type PortalFixture } from '../support/e2e';
import { startRedis, type RedisServer } from '../support/redis-server';
import { manualOperation, operationFinished } from './operations';
import { reportRow } from './report';

/**
 * Redis with AOF (appendonly yes in its own temp dir) SIGKILLed and restarted from its AOF after 2 s: once while
 * the portal is idle, once in the middle of a switch (PowerDNS has accepted the write, the controller has not heard
 * yet). The state and the operation come back from the AOF: nothing moves while Redis is gone, the switch finishes
 * with its one write (the proxy's count), nothing is left failing_over, and a real cut afterwards is switched.
 */
jest.setTimeout(180_000);

const DOWN_MS = 2_000;
let redis: RedisServer;
let client: Redis;
let app: AllInOne | undefined;
let fx: PortalFixture;
let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;

afterAll(async () => {
  await app?.stop();
  client?.disconnect();
  await Promise.all([fx?.primary.close(), fx?.standby.close(), proxy?.close()]);
  await redis?.stop();
});

it('Redis SIGKILLed and restarted with AOF, idle and mid-switch: state kept, the switch done once, a cut afterwards switched', async () => {
  redis = await startRedis({ appendonly: true });
  proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
  fx = await portalFixture('aof');
  const config = e2eConfig([fx], { redisUrl: redis.url, apiUrl: proxy.url, policy: { cooldown: '1s' } });
  const k = keys(config.redis.prefix);
  client = new Redis(redis.url);
  const store = new StateStore(client, k);
  const control = new ControlStore(client, k);
  const writes = () => proxy.acceptedWrites(encodeURIComponent(fx.zone)).length;
  app = await startAllInOne(config, testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  const settled = (phase: string, what: string) =>
    waitFor(() => app!.controller.isLeader && app!.controller.state(fx.id)?.phase === phase && app!.controller.state(fx.id)?.inflight === undefined, { timeoutMs: 30_000, what });
  await settled('healthy', 'healthy');
  await sleep(1_000); // one more evaluation, so the state on record is the healthy one

  // 1. Idle: killed, down for 2 s, restarted from the AOF. Nothing moves; the record survived.
  const w0 = writes();
  await redis.kill9();
  await sleep(DOWN_MS);
  await redis.restart();
  const restartedAt = Date.now();
  expect((await store.loadState(fx.id))?.activeSite).toBe('primary');
  await settled('healthy', 'healthy after the idle kill');
  const idleRecoveryMs = Date.now() - restartedAt;
  expect(writes()).toBe(w0);

  // 2. Mid-switch: killed once PowerDNS accepted the write, before the controller hears the answer.
  let restarted: Promise<void> | undefined;
  proxy.hooks = {
    beforeAnswer: async (r) => {
      if (restarted || r.method !== 'PATCH' || (r.status ?? 500) >= 300) return;
      restarted = redis.kill9().then(async () => {
        await sleep(DOWN_MS);
        await redis.restart();
      });
      await sleep(50); // the answer reaches a controller whose Redis is already gone
    },
  };
  const op = manualOperation(fx.id, 'standby', 'chaos: Redis killed mid-switch', 'aof');
  expect((await control.requestOperation(op)).ok).toBe(true);
  await waitFor(() => restarted !== undefined, { timeoutMs: 30_000, what: 'the switch wrote to PowerDNS' });
  await restarted;
  const backAt = Date.now();
  const done = await operationFinished(store, op.id, 'mid-switch kill');
  const switchRecoveryMs = Date.now() - backAt;
  expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: undefined });
  await settled('failed_over', 'failed over after the mid-switch kill');
  // The record too (saved on the next evaluation after the operation's own save): nothing left in flight.
  await waitFor(async () => {
    const st = await store.loadState(fx.id);
    return st?.inflight === undefined && st?.phase === 'failed_over';
  }, { timeoutMs: 10_000, what: 'the stored state failed_over, nothing in flight' });
  expect(await fx.answer()).toEqual([fx.standbyAddress]);
  expect(writes() - w0).toBe(1);
  const ops = await store.recentOperations(fx.id);
  expect(ops.filter((o) => o.trigger !== 'manual').map((o) => `${o.id} ${o.trigger} ${o.from}->${o.to}`)).toEqual([]);

  // 3. A real cut of the site now serving is switched back to the healthy primary, with one write.
  const w1 = writes();
  await fx.standby.setMode({ kind: 'refuse' });
  await waitFor(async () => (await fx.answer())[0] === fx.primaryAddress, { timeoutMs: 30_000, what: 'the cut after the kills is switched' });
  await settled('healthy', 'healthy on the primary');
  expect(writes() - w1).toBe(1);

  reportRow({
    case: 'Redis SIGKILL + restart with AOF (idle, and mid-switch after the write landed)',
    trials: 2,
    falseFailovers: 0,
    doubleExecutions: writes() - w0 - 2,
    leftFailingOver: 0,
    cutSwitchedAfter: 'yes',
    recovery: `idle: healthy leader ${idleRecoveryMs} ms after the restart; mid-switch: operation done ${switchRecoveryMs} ms after the restart (resumed ${done.resumedCount}x)`,
  });
});
