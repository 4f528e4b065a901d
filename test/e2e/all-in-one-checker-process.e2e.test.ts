import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from '../support/free-port';
import { childPids, goneWithin } from '../support/process-gone';
import { sharedRedisUrl } from '../support/redis-server';
import { scaleRawConfig } from '../support/scale-fixture';
import { startStaticHttpTarget, type StaticHttpTarget } from '../support/static-http-target';

/**
 * `npm start` with a config large enough that `checker.childProcess: auto` forks the checker (1,000 checks or more):
 * the checker runs in a process of its own, its metrics are served on the all-in-one's /metrics next to the
 * controller's, it is started again when it dies, the cut portal still switches, and it stops with its parent.
 */
jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..', '..');
const STANDBY = '198.51.100.1';

function sample(text: string, name: string): number[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
}

let shared: StaticHttpTarget;
let cut: StaticHttpTarget;
let cutStopped = false;
let app: ChildProcess | undefined;
let output = '';
let dir: string;

beforeAll(async () => {
  [shared, cut] = await Promise.all([startStaticHttpTarget(), startStaticHttpTarget()]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-aio-child-'));
});

afterAll(async () => {
  if (app && app.exitCode === null) app.kill('SIGKILL');
  await Promise.all([shared?.stop(), cutStopped ? undefined : cut?.stop()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a large config forks the checker: one /metrics, restarted when killed, the cut portal switches, gone with its parent', async () => {
  const prefix = `aio${randomBytes(3).toString('hex')}`;
  const apiPort = await freePort();
  // 500 portals × 2 sites = 1,000 checks at 5 s: the smallest config that forks on auto, light enough for CI.
  const raw = scaleRawConfig({ portals: 500, intervalMs: 5000, targetUrl: shared.url, redisUrl: sharedRedisUrl(), prefix, apiListen: `127.0.0.1:${apiPort}` });
  const portals = raw.portals as Array<{ policy: { failureThreshold: number }; sites: Array<{ checks: Array<{ url: string; interval: string; timeout: string }> }>; traffic: Array<{ path: string; zone: string }> }>;
  const p0 = portals[0];
  for (const s of p0.sites) Object.assign(s.checks[0], { interval: '1s', timeout: '500ms' });
  p0.sites[0].checks[0].url = cut.url;
  const zoneFile = path.join(dir, 'p0.zone');
  p0.traffic[0].path = zoneFile;
  const zone = p0.traffic[0].zone;
  fs.writeFileSync(zoneFile, [`$ORIGIN ${zone}`, '$TTL 300', `@ IN SOA ns1.${zone} hostmaster.${zone} ( 1 7200 3600 1209600 300 )`, `  IN NS ns1.${zone}`, 'ns1 IN A 192.0.2.53', 'www 30 IN A 192.0.2.1', ''].join('\n'));
  const token = randomBytes(24).toString('hex');
  (raw.api as Record<string, unknown>).tokens = [{ name: 'test', role: 'viewer', sha256: createHash('sha256').update(token).digest('hex') }];
  const configFile = path.join(dir, 'failover.yaml');
  fs.writeFileSync(configFile, JSON.stringify(raw));

  const { REDIS_URL: _r, FAILOVER_CONFIG: _c, ...base } = process.env;
  const started = spawn(process.execPath, [path.join(ROOT, 'cli', 'dist', 'main.js'), 'start', '-c', configFile], { env: { ...base, LOG_LEVEL: 'info', LOG_FORMAT: 'pretty' }, stdio: ['ignore', 'pipe', 'pipe'] });
  app = started;
  started.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  started.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const appPid = started.pid!;
  const metricsUrl = `http://127.0.0.1:${apiPort}/metrics`;
  const metrics = () => fetch(metricsUrl).then((r) => (r.ok ? r.text() : ''), () => '');
  const checksDone = async () => sample(await metrics(), 'failover_vantage_check_duration_seconds_count').reduce((a, b) => a + b, 0);
  const what = (w: string) => ({ timeoutMs: 60_000, what: `${w}; output:\n${output.slice(-3000)}` });

  // The checker runs in a child of the all-in-one, and the all-in-one's /metrics counts its probes.
  await waitFor(async () => (await checksDone()) > 0, what('probes counted on the all-in-one /metrics'));
  const [first] = childPids(appPid);
  expect(first).toBeDefined();
  expect(output).toContain(`checker runs in process ${first}`);
  const text = await metrics();
  // Gauges both processes set are combined, not added: one Redis, one build, one leader.
  expect(sample(text, 'failover_redis_up')).toEqual([1]);
  expect(sample(text, 'failover_controller_leader')).toEqual([1]);
  expect(sample(text, 'failover_build_info')).toEqual([1]);
  expect(text.match(/^# TYPE failover_check_lag_seconds histogram$/gm)).toHaveLength(1);

  // Killed, the checker comes back in a new process and probes again.
  process.kill(first, 'SIGKILL');
  expect(await goneWithin(first, 5_000)).toBe(true);
  const second = await waitFor(() => childPids(appPid).find((pid) => pid !== first), what('a new checker process'));
  const before = await checksDone();
  await waitFor(async () => (await checksDone()) > before, what('probes counted after the restart'));
  expect(output).toMatch(/the checker process \d+ exited \(SIGKILL\); starting it again/);

  // The portal whose primary is cut still switches: results from the forked checker drive the controller.
  const view = `http://127.0.0.1:${apiPort}/api/v1/portals/p0`;
  await waitFor(
    () => fetch(view, { headers: { authorization: `Bearer ${token}` } }).then((r) => (r.ok ? (r.json() as Promise<{ phase?: string }>) : undefined)).then((b) => b?.phase === 'healthy', () => false),
    what('p0 healthy on its primary'),
  );
  await cut.stop();
  cutStopped = true;
  await waitFor(() => fs.readFileSync(zoneFile, 'utf8').includes(STANDBY), what('the zone file naming the standby'));

  // SIGTERM to the all-in-one stops its checker too.
  const exited = new Promise<number | null>((r) => started.once('exit', (code) => r(code)));
  started.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(await goneWithin(second, 5_000)).toBe(true);
});
