import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMetrics, parseConfig } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { SimSite, PORTAL_PAGE } from '../../cli/src/demo/sim-site';
import { freePort, requireExecutable, spawnDaemon, waitFor, type Daemon } from '../support/free-port';
import { HAPROXY_INSTALL_HINT } from '../support/haproxy-server';
import { sharedRedisUrl } from '../support/redis-server';
import { testLogger } from '../support/e2e';

jest.setTimeout(120_000);

let haproxy: Daemon | undefined;
let app: AllInOne | undefined;
let sites: SimSite[] = [];
let dir = '';

afterAll(async () => {
  await app?.stop();
  await haproxy?.stop();
  await Promise.all(sites.map((s) => s.close()));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * The load-balancer path end to end: a client keeps requesting the portal through a real HAProxy while the
 * primary's provider cuts it off; the controller puts the primary server in maintenance and the standby ready
 * through the runtime API. The number of client requests that failed between the cut and the switch is reported.
 */
it('HAProxy failover under client load: failures only between the cut and the switch, none after', async () => {
  const bin = requireExecutable('haproxy', HAPROXY_INSTALL_HINT);
  sites = [await SimSite.start('primary'), await SimSite.start('standby')];
  const [primary, standby] = sites;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-haproxy-e2e-'));
  const [front, admin] = [await freePort(), await freePort()];
  const cfg = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(
    cfg,
    [
      'global',
      `    stats socket ipv4@127.0.0.1:${admin} level admin`,
      'defaults',
      '    mode http',
      '    timeout connect 1s',
      '    timeout client 5s',
      '    timeout server 5s',
      'frontend fe_portal',
      `    bind 127.0.0.1:${front}`,
      '    default_backend be_portal',
      'backend be_portal',
      `    server primary 127.0.0.1:${primary.port}`,
      `    server standby 127.0.0.1:${standby.port} disabled`,
      '',
    ].join('\n'),
  );
  haproxy = await spawnDaemon(bin, ['-db', '-f', cfg], path.join(dir, 'haproxy.log'));
  const url = `http://127.0.0.1:${front}/`;
  await waitFor(async () => (await fetch(url).catch(() => undefined))?.status === 200, { timeoutMs: 10_000, what: 'HAProxy frontend serving' });

  const check = (u: string) => ({ type: 'http', url: u, interval: '1s', timeout: '500ms', expect: { bodyIncludes: ['Cổng dịch vụ công'] } });
  const { REDIS_URL: _r, ...env } = process.env;
  const config = parseConfig(
    {
      redis: { url: sharedRedisUrl(), prefix: `hae2e${Date.now().toString(36)}` },
      api: { listen: '127.0.0.1:0' },
      controller: { leaseTtl: '3s', renewEvery: '1s', evaluateEvery: '250ms', stepAttempts: 3, stepBackoff: '200ms' },
      portals: [
        {
          id: 'lb',
          name: 'Portal behind HAProxy',
          policy: { failureThreshold: 2, recoveryThreshold: 2, cooldown: '10m' },
          sites: [
            { name: 'primary', provider: 'dc-a', routing: { address: '192.0.2.10' }, checks: [check(primary.url)] },
            { name: 'standby', provider: 'dc-b', routing: { address: '198.51.100.20' }, checks: [check(standby.url)] },
          ],
          traffic: [{ kind: 'haproxy', socket: `tcp:127.0.0.1:${admin}`, backend: 'be_portal', servers: { primary: 'primary', standby: 'standby' }, timeout: '1s' }],
        },
      ],
    },
    'haproxy-e2e',
    env,
  );
  app = await startAllInOne(config, testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  await waitFor(() => app!.controller.state('lb')?.phase === 'healthy', { timeoutMs: 20_000, what: 'portal healthy' });

  // The clients: four loops, each a request every 20 ms (HAProxy holds a request to a dead server while it
  // retries the connect, so a single loop would mostly wait), every request recorded with its outcome.
  const log: { at: number; end: number; ok: boolean }[] = [];
  let running = true;
  const loop = async () => {
    while (running) {
      const at = Date.now();
      const ok = await fetch(url, { signal: AbortSignal.timeout(2000) })
        .then(async (r) => r.status === 200 && (await r.text()) === PORTAL_PAGE)
        .catch(() => false);
      log.push({ at, end: Date.now(), ok });
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const client = Promise.all([loop(), loop(), loop(), loop()]);
  await new Promise((r) => setTimeout(r, 1000));
  const cutAt = Date.now();
  await primary.setMode({ kind: 'refuse' });
  let switchedAt = 0;
  app.controller.on('operation', (op) => {
    if (op.status === 'succeeded') switchedAt = op.finishedAt ?? Date.now();
  });
  await waitFor(() => switchedAt > 0, { timeoutMs: 20_000, what: 'the switch to the standby' });
  // Requests still held by HAProxy for the dead server end by their 2 s client timeout; then the loops run free.
  await new Promise((r) => setTimeout(r, 4500));
  running = false;
  await client;

  // A request belongs to the outage window when it was in flight at any moment between the cut and the switch.
  const before = log.filter((r) => r.end < cutAt);
  const during = log.filter((r) => r.end >= cutAt && r.at <= switchedAt);
  const after = log.filter((r) => r.at > switchedAt + 50);
  const failed = during.filter((r) => !r.ok).length;
  process.stdout.write(
    `HAProxy failover: cut -> switch ${((switchedAt - cutAt) / 1000).toFixed(2)} s; client requests failed between cut and switch: ` +
      `${failed} of ${during.length}; after the switch: ${after.filter((r) => !r.ok).length} of ${after.length}\n`,
  );
  expect(before.every((r) => r.ok)).toBe(true);
  expect(failed).toBeGreaterThan(0); // the cut was real
  expect(after.length).toBeGreaterThan(20);
  expect(after.every((r) => r.ok)).toBe(true);
  const states = await fetch(url).then((r) => r.text());
  expect(states).toBe(PORTAL_PAGE);
  expect(app.controller.state('lb')).toMatchObject({ activeSite: 'standby', phase: 'failed_over' });
});
