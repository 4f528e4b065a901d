import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { keys } from '@portal-failover/shared';
import { Lease } from '../../services/controller/src/lease';
import { bearer, apiRawConfig } from '../api/support';
import { portalFixture, type PortalFixture } from '../support/e2e';
import { waitFor } from '../support/free-port';
import { spawnService, writeConfigFile, type ServiceProcess } from '../support/processes';
import { startRedis, type RedisServer } from '../support/redis-server';

/**
 * Issue #9 item 4: the checker, the controller and the API, each its own process logged in as its own Redis ACL
 * user from `npm run redis:acl`, carry a real failover on PowerDNS and a manual failback through the API; and the
 * users are refused what their role must not do.
 */
jest.setTimeout(150_000);

const ROOT = path.resolve(__dirname, '..', '..');
const prefix = `acl${randomBytes(3).toString('hex')}`;
const k = keys(prefix);
const pw = {
  checker: randomBytes(16).toString('hex'),
  controller: randomBytes(16).toString('hex'),
  api: randomBytes(16).toString('hex'),
  'checker-v1': randomBytes(16).toString('hex'),
  'checker-v2': randomBytes(16).toString('hex'),
};
type Role = keyof typeof pw;
type Service = 'checker' | 'controller' | 'api';

let redis: RedisServer;
let p: PortalFixture;
let aclDir: string;
const procs: ServiceProcess[] = [];
const clients: Redis[] = [];

const urlFor = (role: Role) => `redis://${role}:${pw[role]}@127.0.0.1:${redis.port}`;
function client(role: Role | 'default'): Redis {
  const c = new Redis(role === 'default' ? redis.url : urlFor(role), { maxRetriesPerRequest: 1, enableReadyCheck: false });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  aclDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-acl-'));
  const env = { ...process.env, REDIS_CHECKER_PASSWORD: pw.checker, REDIS_CONTROLLER_PASSWORD: pw.controller, REDIS_API_PASSWORD: pw.api, REDIS_CHECKER_V1_PASSWORD: pw['checker-v1'], REDIS_CHECKER_V2_PASSWORD: pw['checker-v2'] };
  const acl = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'gen-redis-acl.js'), '--prefix', prefix, '--vantage', 'v1', '--vantage', 'v2'], { env, encoding: 'utf8' });
  // Only hashes go into the file.
  for (const secret of Object.values(pw)) expect(acl).not.toContain(secret);
  const file = path.join(aclDir, 'users.acl');
  fs.writeFileSync(file, acl);
  redis = await startRedis({ args: ['--aclfile', file], auth: { user: 'controller', password: pw.controller } });
  p = await portalFixture('acl');
});

afterAll(async () => {
  await Promise.all(procs.map((x) => x.stop()));
  clients.forEach((c) => c.disconnect());
  await p?.primary.close();
  await p?.standby.close();
  await redis?.stop();
  if (aclDir) fs.rmSync(aclDir, { recursive: true, force: true });
});

it('each role on its own ACL user fails over on PowerDNS, and the API fails back', async () => {
  const raw = apiRawConfig([p], { redisUrl: redis.url });
  (raw.redis as { prefix: string }).prefix = prefix;
  const file = writeConfigFile(raw);
  // Both ways a role gets its user: the checker through REDIS_USERNAME/REDIS_PASSWORD (compose, Kubernetes), the
  // others in the URL. The checker (vantage v1) runs as checker-v1, the narrowest checker user: the shared
  // `checker` user's key patterns include all of its.
  const start = (role: Service) => {
    const env = role === 'checker' ? { REDIS_URL: redis.url, REDIS_USERNAME: 'checker-v1', REDIS_PASSWORD: pw['checker-v1'] } : { REDIS_URL: urlFor(role) };
    const s = spawnService(role, file, env);
    procs.push(s);
    return s;
  };
  const controller = start('controller');
  const checker = start('checker');
  const api = start('api');
  await waitFor(() => /API listening on (\S+)/.test(api.output()), { timeoutMs: 30_000, what: 'the API to listen' });
  const apiUrl = /API listening on (\S+)/.exec(api.output())![1];
  // Read through the API user, which may read state but not write it.
  const apiRedis = client('api');
  const state = async () => JSON.parse((await apiRedis.get(k.portalState(p.id))) ?? '{}') as { phase?: string; activeSite?: string };

  await waitFor(async () => (await state()).phase === 'healthy', { timeoutMs: 30_000, what: 'the portal healthy' });
  expect(await p.answer()).toEqual([p.primaryAddress]);

  await p.primary.setMode({ kind: 'refuse' });
  await waitFor(async () => (await p.answer())[0] === p.standbyAddress, { timeoutMs: 30_000, what: 'the DNS answer to move to the standby' });
  await waitFor(async () => (await state()).activeSite === 'standby', { timeoutMs: 15_000, what: 'the state to name the standby' });

  // Failback is manual: the API writes the intent, the pending operation and the audit entry; the leader takes it.
  await p.primary.setMode({ kind: 'ok' });
  let last = '';
  await waitFor(
    async () => {
      const res = await fetch(`${apiUrl}/api/v1/portals/${p.id}/switchover`, {
        method: 'POST',
        headers: { authorization: bearer('operator'), 'content-type': 'application/json' },
        body: JSON.stringify({ to: 'primary', reason: 'failback after the ACL test outage' }),
      });
      last = `${res.status} ${await res.text()}`;
      if (res.status !== 202) throw new Error(`${last}\n${api.output().slice(-1500)}`);
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 500, what: 'the API to accept the failback' },
  );
  await waitFor(async () => (await p.answer())[0] === p.primaryAddress, { timeoutMs: 30_000, what: 'the DNS answer back on the primary' });
  expect(await apiRedis.xlen(k.audit)).toBeGreaterThan(0);

  // The API reads the queues for its metrics and the queue board with a read-only user.
  let metrics = '';
  await waitFor(
    async () => {
      metrics = await (await fetch(`${apiUrl}/metrics`)).text();
      return /^failover_queue_jobs\{queue="checks-v1",state="completed"\} \d+/m.test(metrics);
    },
    { timeoutMs: 15_000, intervalMs: 500, what: `queue metrics for the checks queue on the API\n${api.output().slice(-1500)}` },
  );
  expect(metrics).toMatch(/^failover_queue_jobs\{queue="results",state="completed"\} \d+/m);
  expect(metrics).toMatch(/^failover_queue_metrics_stale 0/m);
  const board = await fetch(`${apiUrl}/admin/queues/api/queues?activeQueue=results&status=completed`, { headers: { authorization: bearer('viewer') } });
  expect(board.status).toBe(200);

  for (const s of [controller, checker, api]) {
    expect(s.child.exitCode).toBeNull();
    expect(s.output()).not.toMatch(/NOPERM/);
  }
});

describe('what each user is refused', () => {
  const NOPERM = /NOPERM/;

  it('the checker cannot write the controller state, the lease, the fence or the audit, not even from a script', async () => {
    const c = client('checker');
    await expect(c.set(k.portalState('acl'), '{}')).rejects.toThrow(NOPERM);
    await expect(c.set(k.lease, 'checker|1', 'PX', 10_000)).rejects.toThrow(NOPERM);
    await expect(c.incr(k.fence)).rejects.toThrow(NOPERM);
    await expect(c.xadd(k.audit, '*', 'e', '{}')).rejects.toThrow(NOPERM);
    await expect(c.eval("return redis.call('SET', KEYS[1], 'x')", 1, k.lease)).rejects.toThrow(NOPERM);
    await expect(c.get(k.portalState('acl'))).rejects.toThrow(NOPERM);
    // Announced risk windows it reads (their probeInterval), never writes.
    await expect(c.hset(k.portalRiskWindows('acl'), 'w', '{}')).rejects.toThrow(NOPERM);
    expect(await c.hgetall(k.portalRiskWindows('acl'))).toEqual({});
    // What it needs works: its evidence captures.
    expect(await c.set(`${prefix}:capture:acl-test`, 'x', 'PX', 1000)).toBe('OK');
  });

  it('a vantage\'s checker user cannot touch another vantage\'s queue or read its key', async () => {
    const v1 = client('checker-v1');
    await expect(v1.set(`${prefix}:checks-v2:meta`, 'x')).rejects.toThrow(NOPERM);
    await expect(v1.del(`${prefix}:checks-v2:repeat`)).rejects.toThrow(NOPERM);
    await expect(v1.get(`${prefix}:vantage:v2:key`)).rejects.toThrow(NOPERM);
    await expect(v1.set(k.lease, 'x')).rejects.toThrow(NOPERM);
    // Its own queue is there (the running checker made its schedulers) and readable.
    expect(await v1.exists(`${prefix}:checks-v1:meta`)).toBe(1);
  });

  it('the API cannot take the lease or write state, but may read them', async () => {
    const a = client('api');
    // Even posing as the leader (the only owner the acquire script lets through), the fence and lease writes fail.
    const held = await a.get(k.lease);
    expect(held).toMatch(/\|\d+$/);
    const fence = await a.get(k.fence);
    const leader = held!.slice(0, held!.lastIndexOf('|'));
    await expect(new Lease(a, k, 3_000, leader).tryAcquire()).rejects.toThrow(/can't access|NOPERM/);
    expect(await a.get(k.fence)).toBe(fence);
    await expect(a.set(k.portalState('acl'), '{}')).rejects.toThrow(NOPERM);
    await expect(a.del(k.lease)).rejects.toThrow(NOPERM);
    // Its scripts may name the state key (the switchover script reads it) but not write it.
    await expect(a.eval("return redis.call('SET', KEYS[1], 'x')", 1, k.portalState('acl'))).rejects.toThrow(/can't access/);
    expect(await a.get(k.lease)).toMatch(/\|\d+$/);
  });

  it('no role can flush, reconfigure or list keys, and an unauthenticated client can only PING', async () => {
    for (const role of ['checker', 'controller', 'api'] as const) {
      const c = client(role);
      await expect(c.flushall()).rejects.toThrow(NOPERM);
      await expect(c.config('SET', 'appendonly', 'no')).rejects.toThrow(NOPERM);
      await expect(c.keys('*')).rejects.toThrow(NOPERM);
      await expect(c.acl('SETUSER', role, '~*')).rejects.toThrow(NOPERM);
      await expect(c.set('outside-the-prefix', '1')).rejects.toThrow(NOPERM);
    }
    const anon = client('default');
    expect(await anon.ping()).toBe('PONG');
    await expect(anon.get(k.lease)).rejects.toThrow(NOPERM);
  });
});
