import { Redis } from 'ioredis';
import { executeOperation, Lease } from '@portal-failover/controller';
import { keys, type FenceGuard } from '@portal-failover/shared';
import { captureLogger } from '../support/capture-logger';
import { startRoute53Fake, type Route53Fake } from '../support/fakes/route53-fake';
import { startRedis, type RedisServer } from '../support/redis-server';
import { route53Step, useFakeAwsCredentials } from './cloud-harnesses';
import { PRIMARY, STANDBY } from './harnesses';
import { rejection, runningOperation } from './test-kit';

/**
 * Route 53's epoch check after Redis lost everything (issue #8, item 5). The fencing counter lives in Redis; a
 * Redis that restarts empty used to hand out token 1 again, and Route 53 then refused every write of the new leader
 * ("lease lost") because the epoch record still held the old, larger token. Tokens are floored by the clock
 * (lease.ts), so the leader after the wipe holds a larger token: its switch is accepted by the epoch
 * compare-and-set, and the leader from before the wipe is the one refused. Real redis-server (no persistence, so a
 * restart is a wipe) and the real Lease; the Route 53 fake for the cloud API.
 */

const { logger } = captureLogger();
const ZONE = 'portal.example.';
const RECORD = `www.${ZONE}`;
const EPOCH = `_pf-epoch.${RECORD}`;
const TTL = 5_000;

let redis: RedisServer;
let client: Redis;
let fake: Route53Fake;
let zoneId: string;

beforeAll(async () => {
  redis = await startRedis({ appendonly: false });
  client = new Redis(redis.url);
});
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});
beforeEach(async () => {
  fake = await startRoute53Fake({ syncDelayMs: 50 });
  useFakeAwsCredentials(fake);
  zoneId = fake.addZone(ZONE);
  fake.put(zoneId, { name: RECORD, type: 'A', ttl: 60, values: [PRIMARY.routing.address ?? ''] });
});
afterEach(async () => {
  await fake.close();
});

const served = () => fake.get(zoneId, RECORD, 'A')?.values ?? [];
const epochToken = () => Number(JSON.parse(fake.get(zoneId, EPOCH, 'TXT')?.values[0] ?? '"NaN"'));
const step = () => route53Step(fake, { hostedZoneId: zoneId, record: RECORD }, logger);
const run = (guard: FenceGuard, to: typeof PRIMARY) =>
  executeOperation({ ...runningOperation('route53'), to: to.name }, [step()], to, guard, { attempts: 2, backoffMs: 1, logger, save: async () => undefined });

it('after Redis restarts empty, the new leader\'s switch passes the epoch check and the old leader is refused', async () => {
  const k = keys(`r53wipe${Date.now()}`);
  // Before the wipe: several leaderships, so the counter has moved on from its first value.
  const old = new Lease(client, k, TTL, 'before-wipe');
  for (let i = 0; i < 5; i++) {
    await old.tryAcquire();
    await old.release();
  }
  const holdOld = (await old.tryAcquire())!;
  const switched = await run(old.guard(holdOld), STANDBY);
  expect(switched.status).toBe('succeeded');
  expect(served()).toEqual([STANDBY.routing.address]);
  expect(epochToken()).toBe(holdOld.token);

  // Redis restarts with nothing: the lease, the fencing counter, everything is gone.
  await redis.restart();
  expect(await client.dbsize()).toBe(0);

  const fresh = new Lease(client, k, TTL, 'after-wipe');
  const holdNew = (await fresh.tryAcquire())!;
  expect(holdNew.token).toBeGreaterThan(holdOld.token);
  const back = await run(fresh.guard(holdNew), PRIMARY);
  expect({ status: back.status, error: back.error }).toEqual({ status: 'succeeded', error: undefined });
  expect(served()).toEqual([PRIMARY.routing.address]);
  expect(epochToken()).toBe(holdNew.token);

  // The leader from before the wipe, still running with its token (its own lease check passes: a stuck process),
  // is stopped by Route 53's epoch record, before anything is sent.
  const writes = fake.writes().length;
  const stale: FenceGuard = { token: holdOld.token, assertHeld: async () => undefined };
  const p = step();
  const err = await rejection(async () => p.apply(p.plan(await p.read(), STANDBY), { fence: stale, logger }));
  expect(err.message).toContain(`holds fencing token ${holdNew.token}, newer than ours (${holdOld.token})`);
  expect(fake.writes()).toHaveLength(writes);
  expect(served()).toEqual([PRIMARY.routing.address]);
});
