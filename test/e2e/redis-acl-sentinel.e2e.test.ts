import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { createRedis, keys, type RedisTarget } from '@portal-failover/shared';
import { Secret } from '../../shared/src/config/secret';
import { waitFor } from '../support/free-port';
import { askAs, startSentinelCluster, type SentinelCluster } from '../support/sentinel-cluster';

/**
 * The ACL file of `npm run redis:acl` with Sentinel, as deploy/k8s-sentinel and the compose `sentinel` profile run
 * it: the replica syncs as the `replica` user, the Sentinels monitor and promote as the `sentinel` user, and the
 * roles reach the master through the Sentinels with redis.username/password, before and after a promotion.
 */
jest.setTimeout(90_000);

const ROOT = path.resolve(__dirname, '..', '..');
const prefix = `acls${randomBytes(3).toString('hex')}`;
const k = keys(prefix);
const roles = ['checker', 'controller', 'api', 'replica', 'sentinel'] as const;
const pw = Object.fromEntries(roles.map((r) => [r, randomBytes(16).toString('hex')])) as Record<(typeof roles)[number], string>;

let dir: string;
let cluster: SentinelCluster;
const clients: Redis[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-acl-sentinel-'));
  const env = { ...process.env, ...Object.fromEntries(roles.map((r) => [`REDIS_${r.toUpperCase()}_PASSWORD`, pw[r]])) };
  const file = path.join(dir, 'users.acl');
  fs.writeFileSync(file, execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'gen-redis-acl.js'), '--prefix', prefix], { env, encoding: 'utf8' }));
  // Ready means the replica is in sync and every Sentinel sees it: both logins already work.
  cluster = await startSentinelCluster({ downAfterMs: 1000, acl: { file, replicaPassword: pw.replica, sentinelPassword: pw.sentinel, info: { user: 'controller', password: pw.controller } } });
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.quit()));
  clients.forEach((c) => c.disconnect());
  await cluster?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function through(role: 'checker' | 'controller'): Redis {
  const target: RedisTarget = {
    url: undefined,
    sentinels: cluster.sentinels,
    name: cluster.name,
    username: role,
    password: new Secret(pw[role], 'test'),
    sentinelPassword: undefined,
    tls: false,
    connectTimeout: 2_000,
    commandTimeout: 1_000,
  };
  const c = createRedis(target, 'command');
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

it('replicates and promotes with the replica and sentinel users; each role keeps its rights on the new master', async () => {
  const controller = through('controller');
  const checker = through('checker');
  expect(await controller.set(k.portalState('p'), 'before')).toBe('OK');
  await expect(checker.set(k.lease, 'x')).rejects.toThrow(/NOPERM/);
  const info = { user: 'controller', password: pw.controller };
  await waitFor(async () => (await askAs(cluster.replicaPort, info, 'GET', k.portalState('p'))) === 'before', { timeoutMs: 10_000, what: 'the write on the replica' });

  const oldMaster = await cluster.masterPort();
  await cluster.kill9(oldMaster);
  await waitFor(async () => (await cluster.masterPort()) !== oldMaster, { timeoutMs: 30_000, intervalMs: 250, what: 'the Sentinels to promote the replica' });
  expect(String(await askAs(await cluster.masterPort(), info, 'INFO', 'replication'))).toMatch(/role:master/);

  // Errors are thrown, not swallowed, so that a timeout names the last one (waitFor keeps it).
  await waitFor(async () => (await controller.set(k.portalState('p'), 'after')) === 'OK', { timeoutMs: 30_000, intervalMs: 250, what: 'the controller writing to the new master' });
  expect(await controller.get(k.portalState('p'))).toBe('after');
  await expect(checker.set(k.lease, 'x')).rejects.toThrow(/NOPERM/);
});
