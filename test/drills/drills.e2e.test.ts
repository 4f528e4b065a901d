import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { ControlStore, createMetrics, DrillStore, keys, parseConfig, RiskWindowStore, type DrillRecord } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { waitFor } from '../support/free-port';
import { sharedRedisUrl } from '../support/redis-server';
import { e2eRawConfig, portalFixture, testLogger, type PortalFixture } from '../support/e2e';

/**
 * A roundTrip drill on a short test schedule ("every 20s", the schema allows down to 10s) on real PowerDNS:
 * two recorded successes, traffic back on the primary after each, the metric set; then, frozen, the next due
 * drill is recorded as skipped with the reason, and so is one due inside an announced risk window.
 */
jest.setTimeout(180_000);

let fx: PortalFixture;
let app: AllInOne;
let redis: Redis;
let drills: DrillStore;
let prefix: string;
let configFile: string;

beforeAll(async () => {
  fx = await portalFixture('drill');
  const raw = e2eRawConfig([fx]);
  raw.drills = [{ portal: fx.id, schedule: 'every 20s', mode: 'roundTrip', holdFor: '2s', allowTrafficMove: true }];
  prefix = (raw.redis as { prefix: string }).prefix;
  configFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pf-drill-')), 'failover.yaml');
  fs.writeFileSync(configFile, JSON.stringify(raw)); // JSON is YAML
  const { REDIS_URL: _ignored, ...env } = process.env;
  app = await startAllInOne(parseConfig(raw, 'drill-test', env), testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  redis = new Redis(sharedRedisUrl());
  drills = new DrillStore(redis, prefix);
});

afterAll(async () => {
  await app?.stop();
  redis?.disconnect();
  await Promise.all([fx?.primary.close(), fx?.standby.close()]);
});

it('runs roundTrip drills on schedule, back on the primary after each, and skips one due while frozen', async () => {
  const successes = async () => (await drills.history(fx.id, 50)).filter((r) => r.outcome === 'succeeded');
  const answersAfter: string[][] = [];
  let seen = 0;
  await waitFor(
    async () => {
      const ok = await successes();
      if (ok.length > seen) {
        seen = ok.length;
        answersAfter.push(await fx.answer()); // right after each success: back on the primary
      }
      return ok.length >= 2;
    },
    { timeoutMs: 100_000, intervalMs: 200, what: 'two successful roundTrip drills' },
  );
  for (const a of answersAfter) expect(a).toEqual([fx.primaryAddress]);
  const ok: DrillRecord[] = (await successes()).slice(0, 2);
  for (const r of ok) {
    expect(r).toMatchObject({ mode: 'roundTrip', trigger: 'schedule' });
    expect(r.operations).toHaveLength(2);
    const [out, back] = await Promise.all(r.operations!.map((id) => app.controller.drillOperation(id)));
    expect(out).toMatchObject({ from: 'primary', to: 'standby', status: 'succeeded' });
    expect(back).toMatchObject({ from: 'standby', to: 'primary', status: 'succeeded' });
  }
  expect(app.controller.state(fx.id)?.activeSite).toBe('primary');
  const metrics = await (await fetch(`${app.apiUrl}/metrics`)).text();
  const line = metrics.split('\n').find((l) => l.startsWith(`failover_drill_last_success_timestamp_seconds{portal="${fx.id}",mode="roundTrip"} `));
  expect(Number(line?.split(' ')[1])).toBeGreaterThanOrEqual(Math.floor(Math.max(...ok.map((r) => r.finishedAt)) / 1000));

  // Frozen: the next due drill is recorded as skipped, and traffic does not move.
  await new ControlStore(redis, keys(prefix)).freeze(fx.id, { reason: 'change window', actor: 'ops', at: Date.now() });
  const frozenAt = Date.now();
  const skipped = await waitFor(async () => (await drills.history(fx.id, 50)).find((r) => r.startedAt > frozenAt + 1000 && r.outcome === 'skipped'), { timeoutMs: 45_000, what: 'a skipped drill' });
  expect(skipped.detail).toContain('frozen');
  expect(await fx.answer()).toEqual([fx.primaryAddress]);
  const audit = (await redis.xrange(keys(prefix).audit, '-', '+')).map(([, f]) => JSON.parse(f[f.indexOf('e') + 1]) as { type: string; data?: { outcome?: string } });
  expect(audit.filter((e) => e.type === 'drill').map((e) => e.data?.outcome)).toEqual(expect.arrayContaining(['succeeded', 'skipped']));

  // `drill run --mode dryRun` from the CLI: skipped while frozen (exit 1), the preconditions once unfrozen (exit 0).
  const cli = (args: string[]) => spawnSync(process.execPath, [path.resolve(__dirname, '..', '..', 'cli', 'dist', 'main.js'), ...args], { encoding: 'utf8', env: { ...process.env, REDIS_URL: '' } });
  const frozenRun = cli(['drill', 'run', fx.id, '--mode', 'dryRun', '-c', configFile]);
  expect(frozenRun.status).toBe(1);
  expect(frozenRun.stdout).toContain('(dryRun) skipped: automation is frozen by ops: change window');
  await new ControlStore(redis, keys(prefix)).unfreeze(fx.id);
  const dry = cli(['drill', 'run', fx.id, '--mode', 'dryRun', '-c', configFile]);
  // Unfrozen it is not skipped: it reports every runbook precondition, and its exit code follows its outcome.
  // (The CLI judges health from the state the leader stored, which can lag; see the transparency report.)
  expect(dry.stdout).toMatch(/\(dryRun\) (succeeded|failed): /);
  expect(dry.stdout).toMatch(/(ok  |FAIL) automation not frozen: not frozen/);
  expect(dry.stdout).toMatch(/(ok  |FAIL) target healthy by quorum: /);
  expect(dry.status).toBe(dry.stdout.includes('(dryRun) succeeded') ? 0 : 1);

  // An announced cut in force (its lead time has begun): a round trip would move real traffic during it, so the
  // scheduled one and one asked for from the CLI are skipped, naming the window.
  const startsAt = Date.now() + 60_000;
  await new RiskWindowStore(redis, keys(prefix)).add(fx.id, { name: 'dc-notice', start: new Date(startsAt).toISOString(), startsAt, durationMs: 60_000, leadTimeMs: 3_600_000, lowerTtlTo: 5, source: 'api' });
  const announcedAt = Date.now();
  const inWindow = await waitFor(async () => (await drills.history(fx.id, 50)).find((r) => r.startedAt > announcedAt + 1000 && r.trigger === 'schedule'), { timeoutMs: 45_000, what: 'a drill due in the window' });
  expect(inWindow).toMatchObject({ outcome: 'skipped', detail: 'in a risk window: "dc-notice" is in force' });
  const manual = cli(['drill', 'run', fx.id, '--mode', 'roundTrip', '-c', configFile]);
  expect(manual.stdout).toContain('(roundTrip) skipped: in a risk window: "dc-notice" is in force');
  expect(await fx.answer()).toEqual([fx.primaryAddress]);
});
