import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { assertRedisReachable, createLogger, createMetrics, parseConfig, redactUrl } from '@portal-failover/shared';
import { createToken } from '@portal-failover/api';
import { DEMO_PORTS, type DemoPorts } from './ports';

export { DEMO_PORTS, parsePorts, type DemoPorts } from './ports';
import { startAllInOne } from '../all-in-one';
import { SimSite } from './sim-site';

const ZONE = `$ORIGIN portal.example.
$TTL 300
@       IN SOA ns1.portal.example. hostmaster.portal.example. ( 2026112301 3600 600 604800 30 )
        IN NS  ns1
ns1     IN A   127.0.0.1
www  30 IN A   192.0.2.10
`;

const started = Date.now();
function say(text: string): void {
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${text}\n`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Uses REDIS_URL or 127.0.0.1:6379; on a machine without one, starts a throw-away redis-server if installed. */
async function redisForDemo(): Promise<{ url: string; child?: ChildProcess }> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  try {
    await assertRedisReachable(url, 1500);
    return { url };
  } catch (err) {
    const port = await freePort();
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const failed = new Promise<never>((_, reject) => child.once('error', () => reject(err)));
    const own = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 50; i++) {
      try {
        await Promise.race([assertRedisReachable(own, 500), failed]);
        say(`no Redis at ${redactUrl(url)}; started a private one on ${own}`);
        return { url: own, child };
      } catch (e) {
        if (e === err) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    child.kill();
    throw err;
  }
}

function zoneRecord(file: string): string {
  const line = fs.readFileSync(file, 'utf8').split('\n').find((l) => /^www\.?portal\.example\.?\s|^www\s/.test(l));
  return line?.trim().replace(/\s+/g, ' ') ?? '(no www record)';
}

/** Resolves on the first SIGINT or SIGTERM: the end of a `--keep-running` demo. */
function interrupted(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(sig);
    };
    const onInt = on('SIGINT');
    const onTerm = on('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}

/**
 * `npm run demo`: two simulated hosting providers, a zone file in a temporary folder, the real checker, controller
 * and API in one process; the primary's provider suspends the account after a few seconds and traffic moves.
 */
export async function runDemo(opts: { cutAfterMs?: number; timeoutMs?: number; keepRunning?: boolean; ports?: DemoPorts } = {}): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-failover-demo-'));
  const zoneFile = path.join(dir, 'portal.example.zone');
  fs.writeFileSync(zoneFile, ZONE);
  const ports = opts.ports ?? (opts.keepRunning ? DEMO_PORTS : undefined);
  const primary = await SimSite.start('primary', ports?.primary ?? 0);
  const standby = await SimSite.start('standby', ports?.standby ?? 0);
  // Only a demo that stays up for the CLI gets a token; it is printed once and never stored in clear.
  const demoToken = opts.keepRunning ? createToken('demo-operator', 'operator') : undefined;
  const redis = await redisForDemo();
  const prefix = `demo-${randomBytes(4).toString('hex')}`;
  const check = (url: string) => ({
    type: 'http',
    url,
    interval: '1s',
    timeout: '500ms',
    expect: { status: [200], bodyIncludes: ['Cổng dịch vụ công'], bodyExcludes: ['suspended', 'tạm ngưng'] },
  });
  const config = parseConfig(
    {
      redis: { url: redis.url, prefix },
      api: { listen: `127.0.0.1:${ports?.api ?? 0}`, tokens: demoToken ? [demoToken.record] : [] },
      checker: { vantage: 'demo' },
      controller: { leaseTtl: '3s', renewEvery: '1s', evaluateEvery: '250ms' },
      portals: [
        {
          id: 'dvc-hanoi',
          name: 'Cổng dịch vụ công trực tuyến Hà Nội',
          policy: { failureThreshold: 2, recoveryThreshold: 2, quorum: 1, cooldown: '10m' },
          sites: [
            { name: 'primary', provider: 'hosting-a', routing: { address: '192.0.2.10' }, checks: [check(primary.url)] },
            { name: 'standby', provider: 'hosting-b', routing: { address: '198.51.100.20' }, checks: [check(standby.url)] },
          ],
          traffic: [{ kind: 'zonefile', path: zoneFile, zone: 'portal.example.', record: 'www.portal.example.', type: 'A', ttl: 30, reloadTimeout: '1s' }],
        },
      ],
    },
    'demo',
    { ...process.env, REDIS_URL: redis.url },
  );
  say(`primary  (hosting-a) serving the portal at ${primary.url}`);
  say(`standby  (hosting-b) serving the portal at ${standby.url}`);
  say(`zone file ${zoneFile}: ${zoneRecord(zoneFile)}`);
  const app = await startAllInOne(config, createLogger({ level: process.env.LOG_LEVEL ?? 'error', format: 'pretty' }), createMetrics());
  say(`checker, controller and API running (API ${app.apiUrl}); checks every 1s, failure threshold 2`);
  if (demoToken) {
    say(`demo operator token (shown once; the demo keeps running until Ctrl-C). In another terminal:`);
    process.stdout.write(`\n  export PORTAL_FAILOVER_URL=${app.apiUrl} PORTAL_FAILOVER_TOKEN=${demoToken.token}\n  npx portal-failover status\n\n`);
  }

  let cutAt = 0;
  let cutScheduled = false;
  let done: ((code: number) => void) | undefined;
  const finished = new Promise<number>((r) => (done = r));
  app.controller.on('decision', (_portal, d) => {
    say(`[${d.phase}] ${d.reason}`);
    if (!cutAt && !cutScheduled && d.analysis === 'ActiveHealthy') {
      cutScheduled = true;
      setTimeout(() => {
        void primary.setMode({ kind: 'suspended' }).then(() => {
          cutAt = Date.now();
          say('hosting-a suspends the account: the primary now answers HTTP 200 with "Tài khoản đã bị tạm ngưng / suspended"');
        });
      }, opts.cutAfterMs ?? 3000);
    }
  });
  app.controller.on('operation', (op) => {
    for (const st of op.steps) say(`step ${st.index + 1} ${st.label}: ${st.status} (${st.plan?.description ?? ''}) ${st.verified ?? st.error ?? ''}`);
    if (op.status !== 'succeeded') return done?.(1);
    say(`zone file now: ${zoneRecord(zoneFile)}`);
    const detect = op.detectedAt ? ((op.decidedAt - op.detectedAt) / 1000).toFixed(1) : '?';
    say(`failover done ${((Date.now() - cutAt) / 1000).toFixed(1)}s after the cut: detected in ${detect}s, switched and verified in ${(((op.finishedAt ?? 0) - op.decidedAt) / 1000).toFixed(2)}s`);
    done?.(0);
  });
  let code = 1;
  const timer = setTimeout(() => done?.(1), opts.timeoutMs ?? 60_000);
  try {
    code = await finished;
    clearTimeout(timer);
    if (code !== 0) say('the failover did not complete in time: see the phase and reason above');
    if (opts.keepRunning) {
      await primary.setMode({ kind: 'ok' });
      say('hosting-a restores the account: the primary serves the portal again; failback is manual (autoFailback is off):');
      process.stdout.write(`\n  npx portal-failover operations dvc-hanoi\n  npx portal-failover switchover dvc-hanoi --to primary --reason "account restored"\n\n`);
      say(`still running: API ${app.apiUrl}, primary ${primary.url}, standby ${standby.url}; Ctrl-C stops it and removes its Redis keys`);
      say(`${await interrupted()} received, stopping`);
    }
  } finally {
    await app.stop();
    await Promise.all([primary.close(), standby.close()]);
    await cleanupPrefix(redis.url, prefix);
    redis.child?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return code;
}

/** Deletes only the demo's own keys: the Redis may be shared, so never FLUSHDB. */
async function cleanupPrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, found] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (found.length) await r.del(...found);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}
