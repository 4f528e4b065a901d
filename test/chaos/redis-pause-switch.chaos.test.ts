import { Redis } from 'ioredis';
import { ControlStore, createMetrics, keys, parseConfig, StateStore, type Operation } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { startRecordingProxy, type RecordedRequest } from '../support/recording-proxy';
import { createZone, sharedPowerDns } from '../support/powerdns-server';
import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, sleep, testLogger, type PortalFixture } from '../support/e2e';
import { startRedis, type RedisServer } from '../support/redis-server';
import { manualOperation, operationFinished } from './operations';
import { reportRow } from './report';

/**
 * Redis paused (SIGSTOP, 3 s: longer than the 3 s lease's 2.4 s of trusted validity, so the leader steps down) at
 * three points of a running switch, each caught exactly by the recording proxy in front of PowerDNS:
 * - before apply: when the operation's read of the step reaches PowerDNS (the write comes next and needs Redis);
 * - between apply and verify: when PowerDNS has accepted the write, before the controller hears so;
 * - during rollback: a second step fails (the proxy answers 500), and Redis stops when the rollback write of the
 *   first step has been accepted.
 * Every case: the operation ends as it should (switched, or failed and rolled back), PowerDNS accepted each write
 * once (the proxy's count), no automatic switch happened, nothing is left failing_over; afterwards a real cut of
 * each portal is still switched.
 */
jest.setTimeout(240_000);

const PAUSE_MS = 3_000;
let redis: RedisServer;
let client: Redis;
let app: AllInOne | undefined;
let a: PortalFixture;
let b: PortalFixture;
let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;

afterAll(async () => {
  if (redis) process.kill(redis.pid, 'SIGCONT');
  await app?.stop();
  client?.disconnect();
  await Promise.all([a?.primary.close(), a?.standby.close(), b?.primary.close(), b?.standby.close(), proxy?.close()]);
  await redis?.stop();
});

it('Redis paused 3 s before apply, between apply and verify, and during rollback: each write once, nothing stuck, a cut afterwards switched', async () => {
  redis = await startRedis({ appendonly: true });
  proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
  [a, b] = await Promise.all([portalFixture('pswitch'), portalFixture('prollback')]);
  // Portal b has a second step (another zone) that the proxy can make fail, so the first step is rolled back.
  const zoneB2 = b.zone.replace(/^prollback\./, 'prollback2.');
  await createZone(sharedPowerDns(), zoneB2, [{ name: `www.${zoneB2}`, type: 'A', ttl: 30, records: [b.primaryAddress] }]);
  const raw = e2eRawConfig([a, b], { apiUrl: proxy.url, redisUrl: redis.url, policy: { cooldown: '1s' } });
  const portals = raw.portals as Record<string, unknown>[];
  const stepB = (portals[1].traffic as Record<string, unknown>[])[0];
  (portals[1].traffic as Record<string, unknown>[]).push({ ...stepB, zone: zoneB2, record: `www.${zoneB2}` });
  portals[1].policy = { ...(portals[1].policy as object), rollbackOnFailure: true };
  const { REDIS_URL: _ignored, ...env } = process.env;
  const config = parseConfig(raw, 'chaos', env);
  const k = keys(config.redis.prefix);
  client = new Redis(redis.url);
  const store = new StateStore(client, k);
  const control = new ControlStore(client, k);

  const zone = (z: string) => encodeURIComponent(z);
  const accepted = (z: string) => proxy.acceptedWrites(zone(z)).length;
  let failB2 = true;
  let armed: ((r: RecordedRequest, at: 'forward' | 'answer') => boolean) | undefined;
  let paused: Promise<void> | undefined;
  const fire = (r: RecordedRequest, at: 'forward' | 'answer') => {
    if (!armed?.(r, at)) return;
    armed = undefined;
    process.kill(redis.pid, 'SIGSTOP');
    paused = sleep(PAUSE_MS).then(() => void process.kill(redis.pid, 'SIGCONT'));
  };
  proxy.hooks = {
    inject: (r) => (failB2 && r.method === 'PATCH' && r.path.includes(zone(zoneB2)) ? 500 : undefined),
    beforeForward: (r) => fire(r, 'forward'),
    beforeAnswer: (r) => fire(r, 'answer'),
  };

  app = await startAllInOne(config, testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  const settled = (fx: PortalFixture, phase: string) =>
    waitFor(() => app!.controller.isLeader && app!.controller.state(fx.id)?.phase === phase && app!.controller.state(fx.id)?.inflight === undefined, { timeoutMs: 30_000, what: `${fx.id} ${phase}` });
  await settled(a, 'healthy');
  await settled(b, 'healthy');

  const recoveries: string[] = [];
  let doubles = 0;
  /** Requests a manual switch, pauses Redis where `when` says, and checks how the operation ended. */
  const pausedSwitch = async (
    point: string,
    fx: PortalFixture,
    to: 'primary' | 'standby',
    when: (opId: string) => (r: RecordedRequest, at: 'forward' | 'answer') => boolean,
    expected: { status: Operation['status']; dns: string; writes: Record<string, number> },
  ) => {
    const op = manualOperation(fx.id, to, `chaos: Redis paused ${point}`, 'pause');
    const before = Object.fromEntries(Object.keys(expected.writes).map((z) => [z, accepted(z)]));
    paused = undefined;
    armed = when(op.id);
    expect((await control.requestOperation(op)).ok).toBe(true);
    await waitFor(() => paused !== undefined, { timeoutMs: 30_000, intervalMs: 20, what: `${point}: the switch reached the pause point` });
    await paused;
    const resumedAt = Date.now();
    const done = await operationFinished(store, op.id, point);
    recoveries.push(`${point}: done ${Date.now() - resumedAt} ms after SIGCONT (resumed ${done.resumedCount}x)`);
    expect({ point, status: done.status, error: done.error }).toEqual({ point, status: expected.status, error: expected.status === 'succeeded' ? undefined : expect.any(String) });
    await waitFor(() => app!.controller.state(fx.id)?.inflight === undefined && app!.controller.isLeader, { timeoutMs: 15_000, what: `${point}: nothing left in flight` });
    expect(app!.controller.state(fx.id)?.phase).not.toBe('failing_over');
    // The record too: a failed operation is saved before the state that settles it.
    await waitFor(async () => {
      const st = await store.loadState(fx.id);
      return st !== undefined && st.inflight === undefined && st.phase !== 'failing_over';
    }, { timeoutMs: 10_000, what: `${point}: the stored state not failing_over, nothing in flight` });
    expect(await fx.answer()).toEqual([expected.dns]);
    const writes = Object.fromEntries(Object.keys(expected.writes).map((z) => [z, accepted(z) - before[z]]));
    for (const z of Object.keys(expected.writes)) if (writes[z] > expected.writes[z]) doubles++;
    expect({ point, writes }).toEqual({ point, writes: expected.writes });
    return done;
  };

  // The operation's own read of the step: reconcile never reads while it is in flight.
  const inflight = (fx: PortalFixture, opId: string) => app!.controller.state(fx.id)?.inflight?.operationId === opId;
  await pausedSwitch('before apply', a, 'standby', (id) => (r, at) => at === 'forward' && r.method === 'GET' && r.path.includes(zone(a.zone)) && inflight(a, id), {
    status: 'succeeded',
    dns: a.standbyAddress,
    writes: { [a.zone]: 1 },
  });
  await settled(a, 'failed_over');
  await pausedSwitch('between apply and verify', a, 'primary', () => (r, at) => at === 'answer' && r.method === 'PATCH' && r.path.includes(zone(a.zone)) && (r.status ?? 500) < 300, {
    status: 'succeeded',
    dns: a.primaryAddress,
    writes: { [a.zone]: 1 },
  });
  let patchesB1 = 0;
  const rolledBack = await pausedSwitch('during rollback', b, 'standby', () => (r, at) => at === 'answer' && r.method === 'PATCH' && r.path.includes(zone(b.zone)) && ++patchesB1 === 2, {
    status: 'failed',
    dns: b.primaryAddress,
    // The forward write and the rollback write of step 1, once each; step 2's writes were refused.
    writes: { [b.zone]: 2, [zoneB2]: 0 },
  });
  expect(rolledBack.steps.map((s) => s.status)).toEqual(['rolled_back', 'failed']);

  // No automatic switch was decided in all this: every operation so far is one the test asked for.
  const ops = [...(await store.recentOperations(a.id)), ...(await store.recentOperations(b.id))];
  const falseFailovers = ops.filter((o) => o.trigger !== 'manual').length;
  expect(ops.filter((o) => o.trigger !== 'manual').map((o) => `${o.id} ${o.trigger} ${o.from}->${o.to}`)).toEqual([]);

  // The first real cut of each portal afterwards is switched, each step written once.
  failB2 = false;
  await settled(a, 'healthy');
  await settled(b, 'healthy');
  const [wa, wb1, wb2] = [accepted(a.zone), accepted(b.zone), accepted(zoneB2)];
  await Promise.all([a.primary.setMode({ kind: 'refuse' }), b.primary.setMode({ kind: 'refuse' })]);
  await waitFor(async () => (await a.answer())[0] === a.standbyAddress && (await b.answer())[0] === b.standbyAddress, { timeoutMs: 30_000, what: 'both cuts switched' });
  await settled(a, 'failed_over');
  await settled(b, 'failed_over');
  expect([accepted(a.zone) - wa, accepted(b.zone) - wb1, accepted(zoneB2) - wb2]).toEqual([1, 1, 1]);

  process.stdout.write(`${recoveries.join('\n')}\n`);
  reportRow({
    case: 'Redis SIGSTOP 3 s during a switch: before apply, between apply and verify, during rollback',
    trials: 3,
    falseFailovers,
    doubleExecutions: doubles,
    leftFailingOver: 0,
    cutSwitchedAfter: 'yes',
    recovery: recoveries.join('; '),
  });
});
