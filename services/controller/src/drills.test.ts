import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { AuditLog, ControlStore, createMetrics, DrillStore, keys, parseConfig, StateStore, type DrillRecord } from '@portal-failover/shared';
import { sharedRedisUrl } from '../../../test/support/redis-server';
import { testLogger } from '../../../test/support/e2e';
import { DrillRunner } from './drills';

/**
 * The drill-too-old alert reads failover_drill_last_success_timestamp_seconds: a new leader must report the stored
 * last success (not only drills it ran itself), and a drill that never succeeded must have a series too, measured
 * from when it was first configured, kept across restarts. Real Redis, no drill is run (every slot is pre-claimed).
 */
let redis: Redis;
let prefix: string;

beforeAll(() => {
  redis = new Redis(sharedRedisUrl(), { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  const found = await redis.keys(`${prefix}:*`);
  if (found.length) await redis.del(...found);
  redis.disconnect();
});

function config() {
  prefix = prefix ?? `drilltest${randomBytes(4).toString('hex')}`;
  const site = (name: string, address: string) => ({ name, provider: name, routing: { address }, checks: [{ type: 'http', url: 'http://127.0.0.1:9/', interval: '1s', timeout: '500ms' }] });
  const portal = (id: string) => ({ id, name: id, sites: [site('primary', '192.0.2.1'), site('standby', '192.0.2.2')], traffic: [{ kind: 'webhook', url: 'http://127.0.0.1:9/hook', portal: id, secret: '${DRILL_TEST_WEBHOOK_SECRET}' }] });
  const { REDIS_URL: _ignored, ...rest } = process.env;
  const env = { ...rest, DRILL_TEST_WEBHOOK_SECRET: 'test-only-webhook-secret-0123456789' };
  return parseConfig(
    {
      redis: { url: sharedRedisUrl(), prefix },
      portals: [portal('drilled'), portal('never')],
      drills: [
        { portal: 'drilled', schedule: 'every 6h', mode: 'dryRun' },
        { portal: 'never', schedule: 'every 6h', mode: 'dryRun' },
      ],
    },
    'drills-test',
    env,
  );
}

async function gaugeAfterFirstTick(now: number): Promise<Map<string, number>> {
  const cfg = config();
  const drills = new DrillStore(redis, prefix);
  // Every slot already handled: tick() must not start a drill here, only restore the gauge.
  for (const [i, d] of cfg.drills.entries()) await redis.set(drills.slotKey(i, d.portal), String(Number.MAX_SAFE_INTEGER));
  const metrics = createMetrics(undefined, { defaultMetrics: false });
  const k = keys(prefix);
  const runner = new DrillRunner({
    config: cfg,
    store: new StateStore(redis, k),
    control: new ControlStore(redis, k),
    drills,
    audit: new AuditLog(redis, k.audit, 86_400_000, () => now),
    metrics,
    logger: testLogger(),
    now: () => now,
    state: () => undefined,
    riskWindow: () => undefined,
  } as ConstructorParameters<typeof DrillRunner>[0]);
  await runner.tick();
  const out = new Map<string, number>();
  for (const v of (await metrics.drillLastSuccess.get()).values) out.set(String(v.labels.portal), v.value);
  return out;
}

it('a new leader reports the stored last success, and a never-succeeded drill from when it was first configured', async () => {
  config();
  const finishedAt = Date.UTC(2026, 10, 20, 3, 0, 0);
  const success: DrillRecord = { id: 'drill-x', portal: 'drilled', mode: 'dryRun', trigger: 'schedule', startedAt: finishedAt - 1000, finishedAt, outcome: 'succeeded', detail: 'ok' } as DrillRecord;
  await new DrillStore(redis, prefix).record(success);

  const firstStart = Date.UTC(2026, 11, 1, 0, 0, 0);
  const first = await gaugeAfterFirstTick(firstStart);
  expect(first.get('drilled')).toBe(Math.floor(finishedAt / 1000));
  expect(first.get('never')).toBe(Math.floor(firstStart / 1000));

  // A restart nine days later: the never-succeeded drill keeps its first baseline, so its age keeps growing.
  const restart = firstStart + 9 * 86_400_000;
  const second = await gaugeAfterFirstTick(restart);
  expect(second.get('never')).toBe(Math.floor(firstStart / 1000));
  expect(restart / 1000 - second.get('never')!).toBeGreaterThan(8 * 86400);
});
