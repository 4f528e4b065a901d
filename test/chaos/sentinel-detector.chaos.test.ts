import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { createRedis } from '@portal-failover/shared';
import { waitFor } from '../support/free-port';
import { askSentinel, startSentinelCluster, type SentinelCluster } from '../support/sentinel-cluster';

/**
 * A client that follows Sentinel must survive a promotion, however the Sentinels' +switch-master announcements fall
 * against its reconnect attempts. ioredis 6.0.0 kept the announcement subscriptions of a dead master's connection
 * alive, and when one of them fired while the client asked a Sentinel for the master, the client ended for good
 * ("Connection is closed."). StreamBoundSentinelConnector ends those subscriptions with their connection; this
 * test watches that on the Sentinels themselves, then drives the promotion to the end.
 */
jest.setTimeout(90_000);

let cluster: SentinelCluster;
let client: Redis | undefined;

beforeAll(async () => {
  // Slow to declare the master down, so the subscriptions are seen between the kill and the promotion.
  cluster = await startSentinelCluster({ downAfterMs: 4_000 });
});

afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

/** Connections subscribed on each Sentinel (the Sentinels' own links to each other never subscribe). */
async function subscribers(): Promise<number> {
  let n = 0;
  for (const s of cluster.sentinels) {
    const list = String(await askSentinel(Number(s.split(':')[1]), 'CLIENT', 'LIST'));
    n += list.split('\n').filter((line) => /\bsub=[1-9]/.test(line)).length;
  }
  return n;
}

it('drops the dead master connection’s Sentinel subscriptions at once and follows the promotion without ending', async () => {
  const target = { url: undefined, sentinels: cluster.sentinels, name: cluster.name, username: undefined, password: undefined, sentinelPassword: undefined, tls: false, connectTimeout: 2_000, commandTimeout: 1_000 };
  client = createRedis(target, 'command');
  client.on('error', () => undefined);
  let ended = 0;
  client.on('end', () => ended++);
  const key = `sentinel-detector:${randomBytes(4).toString('hex')}`;
  expect(await client.set(key, 'before')).toBe('OK');
  // The failover detector subscribes to +switch-master on every Sentinel once the master connection is up.
  await waitFor(async () => (await subscribers()) === cluster.sentinels.length, { timeoutMs: 10_000, what: 'the detector subscribed on every Sentinel' });

  const oldMaster = await cluster.masterPort();
  await cluster.kill9(oldMaster);
  await waitFor(async () => (await subscribers()) === 0, { timeoutMs: 3_000, intervalMs: 100, what: 'the dead connection’s subscriptions to end' });
  // Still before the promotion: the subscriptions ended with their connection, not with a new one.
  expect(await cluster.masterPort()).toBe(oldMaster);

  await waitFor(async () => (await cluster.masterPort()) !== oldMaster, { timeoutMs: 30_000, intervalMs: 250, what: 'the Sentinels to promote the replica' });
  await waitFor(async () => (await client!.set(key, 'after')) === 'OK', { timeoutMs: 30_000, intervalMs: 250, what: 'a write on the new master' });
  expect(await client.get(key)).toBe('after');
  // The new master connection has a detector of its own again, and the client never ended on the way.
  await waitFor(async () => (await subscribers()) === cluster.sentinels.length, { timeoutMs: 10_000, what: 'the new detector subscribed' });
  expect(ended).toBe(0);
  expect(client.status).toBe('ready');
});
