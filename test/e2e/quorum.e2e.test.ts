import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Checker } from '@portal-failover/checker';
import { Controller } from '@portal-failover/controller';
import {
  closeServiceContext,
  createMetrics,
  createServiceContext,
  keys,
  RESULTS_QUEUE,
  signResult,
  type CheckResult,
  type ServiceContext,
} from '@portal-failover/shared';
import { startRecordingProxy } from '../support/recording-proxy';
import { sharedPowerDns } from '../support/powerdns-server';
import { waitFor } from '../support/free-port';
import { e2eConfig, portalFixture, sleep, testLogger, type PortalFixture } from '../support/e2e';

jest.setTimeout(150_000);

let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
let p: PortalFixture;
let ctx: ServiceContext;
let controller: Controller;
let checkers: Checker[] = [];
let forger: Queue | undefined;

const VANTAGES = ['hanoi', 'hcmc', 'danang'];
const KEYS = Object.fromEntries(VANTAGES.map((v) => [v, randomBytes(24).toString('hex')]));
for (const v of VANTAGES) process.env[`TEST_VANTAGE_${v.toUpperCase()}_KEY`] = KEYS[v];

afterAll(async () => {
  await forger?.close();
  await Promise.all(checkers.map((c) => c.stop()));
  await controller?.stop();
  if (ctx) await closeServiceContext(ctx);
  await p?.primary.close();
  await p?.standby.close();
  await proxy?.close();
});

async function rejected(): Promise<Record<string, number>> {
  const m = await ctx.metrics.resultsRejected.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.reason), v.value]));
}

it('three declared vantages, quorum majority: one vantage seeing the primary fail does not switch, two do; forged results change nothing and are counted', async () => {
  proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
  p = await portalFixture('quorum');
  const config = e2eConfig([p], {
    apiUrl: proxy.url,
    // The fixture's default is quorum 1; majority (the schema's default) is what this test is about.
    policy: { quorum: 'majority' },
    vantages: VANTAGES.map((name) => ({ name, key: `\${TEST_VANTAGE_${name.toUpperCase()}_KEY}` })),
  });
  expect(config.portals[0].policy.quorum).toBe(2);
  const logger = testLogger();
  ctx = await createServiceContext(config, logger, createMetrics(undefined, { defaultMetrics: false }));
  controller = new Controller({ config, redis: ctx.redis, bullConnection: ctx.bullConnection, logger, metrics: ctx.metrics });
  checkers = VANTAGES.map((vantage) => new Checker({ config, vantage, bullConnection: ctx.bullConnection, redis: ctx.redis, logger, metrics: ctx.metrics }));
  await controller.start();
  await Promise.all(checkers.map((c) => c.start()));
  const state = () => controller.state(p.id)!;
  await waitFor(() => state().phase === 'healthy' && !/unknown|stale/.test(state().lastReason), { timeoutMs: 30_000, what: 'healthy on all vantages' });

  // Forged results, all saying the primary is down, many rounds of them: none may count.
  forger = new Queue(RESULTS_QUEUE, { connection: ctx.bullConnection, prefix: keys(config.redis.prefix).bull });
  const base = (vantage: string, at: number): CheckResult => ({
    portal: p.id, site: 'primary', check: 'http-0', vantage, ok: false, at, durationMs: 1, intervalMs: 1000, reason: 'refused', detail: 'forged',
  });
  const before = await rejected();
  let n = 0;
  const send = (data: object) => forger!.add('result', data, { jobId: `forged-${n++}` });
  for (let i = 0; i < 5; i++) {
    const now = Date.now() + i;
    await send(base('hanoi', now)); // unsigned
    await send({ ...signResult(base('hcmc', now), 'not-the-hcmc-key') }); // wrong key
    await send(signResult(base('saigon-rogue', now), 'any-key')); // undeclared vantage
    await send(signResult(base('danang', now + 3_600_000), KEYS.danang)); // an hour ahead, correctly signed
  }
  // A correctly signed result sent twice: the copy is a replay.
  const real = signResult(base('hanoi', Date.now()), KEYS.hanoi);
  await send(real);
  await send(real);
  await waitFor(async () => {
    const r = await rejected();
    return (r.unsigned ?? 0) - (before.unsigned ?? 0) >= 5 && r.bad_signature - before.bad_signature >= 5 && r.undeclared_vantage - before.undeclared_vantage >= 5 && r.future - before.future >= 5 && r.replayed - before.replayed >= 1;
  }, { timeoutMs: 15_000, what: 'every forged result counted' });
  const after = await rejected();
  expect({
    unsigned: after.unsigned - before.unsigned,
    bad_signature: after.bad_signature - before.bad_signature,
    undeclared_vantage: after.undeclared_vantage - before.undeclared_vantage,
    future: after.future - before.future,
    replayed: after.replayed - before.replayed,
  }).toEqual({ unsigned: 5, bad_signature: 5, undeclared_vantage: 5, future: 5, replayed: 1 });
  expect(state().health.primary['saigon-rogue']).toBeUndefined();
  await sleep(2_000);
  expect(state()).toMatchObject({ phase: 'healthy', activeSite: 'primary' });

  // A regional problem: only the Hanoi vantage sees the primary fail.
  p.primary.failVantages.add('hanoi');
  await waitFor(() => state().phase === 'degraded', { timeoutMs: 20_000, what: 'degraded on one vantage' });
  await sleep(6_000);
  expect(state()).toMatchObject({ phase: 'degraded', activeSite: 'primary' });
  expect(state().lastReason).toMatch(/down on hanoi.*up on .*quorum is 2/);
  expect(proxy.writes(encodeURIComponent(p.zone))).toHaveLength(0);
  expect(await p.answer()).toEqual([p.primaryAddress]);

  // A second vantage agrees: that is a majority.
  p.primary.failVantages.add('hcmc');
  await waitFor(async () => (await p.answer())[0] === p.standbyAddress, { timeoutMs: 30_000, what: 'switch once two of three vantages see it down' });
  expect(proxy.acceptedWrites(encodeURIComponent(p.zone))).toHaveLength(1);
  await waitFor(() => state().phase === 'failed_over', { timeoutMs: 5_000, what: 'failed_over' });
});
