import { createMetrics } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { startRecordingProxy } from '../support/recording-proxy';
import { sharedPowerDns } from '../support/powerdns-server';
import { waitFor } from '../support/free-port';
import { e2eConfig, portalFixture, sleep, testLogger, watchAnswers, type PortalFixture } from '../support/e2e';

/**
 * The core promise on real parts: real HTTP sites on loopback, a real PowerDNS queried over DNS, real Redis and
 * BullMQ, the real checker and controller. Every scenario is its own portal, so they run side by side in one
 * process and one minute covers the flapping cases too.
 */
jest.setTimeout(180_000);

const names = ['refused', 'http503', 'suspended', 'hang', 'both-down', 'no-failback', 'alternate', 'short-outage', 'random30'] as const;
type Name = (typeof names)[number];

let fx: Record<Name, PortalFixture>;
let app: AllInOne;
let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;

// PowerDNS's sqlite backend answers 500 to concurrent writes now and then; the controller retries those, so what
// counts is how many writes PowerDNS accepted.
const patches = (p: PortalFixture) => proxy.acceptedWrites(encodeURIComponent(p.zone)).length;
const phase = (p: PortalFixture) => app.controller.state(p.id)?.phase;

beforeAll(async () => {
  proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
  const list = await Promise.all(names.map((n) => portalFixture(n)));
  fx = Object.fromEntries(names.map((n, i) => [n, list[i]])) as Record<Name, PortalFixture>;
  const config = e2eConfig(list, { apiUrl: proxy.url });
  app = await startAllInOne(config, testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  await waitFor(() => list.every((p) => phase(p) === 'healthy'), { timeoutMs: 20_000, what: 'all portals healthy' });
});

afterAll(async () => {
  await app?.stop();
  await Promise.all(Object.values(fx ?? {}).flatMap((p) => [p.primary.close(), p.standby.close()]));
  await proxy?.close();
});

it('moves traffic for real outages, never for flapping, never to a dead standby, and never back by itself', async () => {
  for (const p of Object.values(fx)) expect(await p.answer()).toEqual([p.primaryAddress]);

  // Cut everything at once; flapping portals are watched for a minute while the cuts are judged.
  const cutAt = Date.now();
  await Promise.all([
    fx.refused.primary.setMode({ kind: 'refuse' }),
    fx.http503.primary.setMode({ kind: 'status', status: 503 }),
    fx.suspended.primary.setMode({ kind: 'suspended' }),
    fx.hang.primary.setMode({ kind: 'hang' }),
    fx['both-down'].standby.setMode({ kind: 'refuse' }),
    fx['both-down'].primary.setMode({ kind: 'status', status: 502 }),
    fx['no-failback'].primary.setMode({ kind: 'refuse' }),
    fx.alternate.primary.setMode({ kind: 'alternate' }),
    fx.random30.primary.setMode({ kind: 'random', failRate: 0.3, seed: 20200716 }),
  ]);
  const shortOutages = (async () => {
    // Outages shorter than one check interval (1 s): at most one probe can fail each time.
    for (let i = 0; i < 12; i++) {
      await fx['short-outage'].primary.setMode({ kind: 'refuse' });
      await sleep(600);
      await fx['short-outage'].primary.setMode({ kind: 'ok' });
      await sleep(4400);
    }
  })();
  const flapWatch = Promise.all([watchAnswers(fx.alternate, 60_000), watchAnswers(fx['short-outage'], 60_000), watchAnswers(fx.random30, 60_000)]);

  // 1-4: each kind of cut moves the PowerDNS answer to the standby.
  for (const n of ['refused', 'http503', 'suspended', 'hang'] as const) {
    const p = fx[n];
    await waitFor(async () => (await p.answer())[0] === p.standbyAddress, { timeoutMs: 20_000, what: `${n}: DNS answer moves to the standby` });
    expect(patches(p)).toBe(1);
  }
  // The refused cut is detected within a few intervals (3 failures at 1 s), not minutes.
  expect(Date.now() - cutAt).toBeLessThan(20_000);

  // 7: a recovered primary does not take traffic back by itself.
  const nf = fx['no-failback'];
  await waitFor(async () => (await nf.answer())[0] === nf.standbyAddress, { timeoutMs: 20_000, what: 'no-failback portal switched' });
  await nf.primary.setMode({ kind: 'ok' });
  await waitFor(() => app.controller.state(nf.id)?.lastReason.includes('failback is manual'), { timeoutMs: 15_000, what: 'primary seen recovered' });

  const [alternate, short, random] = await flapWatch;
  await shortOutages;

  // 5: flapping never switches back and forth. A failure shows why the controller switched: its reason and the
  // failure reasons the checker counted (a single probe timeout turns alternation into three failures in a row).
  const why = async (p: PortalFixture) => ({
    reason: app.controller.state(p.id)?.lastReason,
    failures: (await (await fetch(`${app.apiUrl}/metrics`)).text()).split('\n').filter((l) => l.startsWith(`failover_check_failures_total{portal="${p.id}"`)),
  });
  expect({ answers: alternate, ...(alternate.length > 1 ? await why(fx.alternate) : {}) }).toEqual({ answers: [fx.alternate.primaryAddress] });
  expect(patches(fx.alternate)).toBe(0);
  expect({ answers: short, ...(short.length > 1 ? await why(fx['short-outage']) : {}) }).toEqual({ answers: [fx['short-outage'].primaryAddress] });
  expect(patches(fx['short-outage'])).toBe(0);
  expect(random.length).toBeLessThanOrEqual(2);
  if (random.length === 2) expect(random).toEqual([fx.random30.primaryAddress, fx.random30.standbyAddress]);
  expect(patches(fx.random30)).toBeLessThanOrEqual(1);

  // 6: standby down while the primary is cut: no switch, and the phase says both are down.
  const bd = fx['both-down'];
  expect(await bd.answer()).toEqual([bd.primaryAddress]);
  expect(patches(bd)).toBe(0);
  expect(phase(bd)).toBe('both_down');

  // 7 (continued): a minute later the recovered primary still has no traffic; failback is manual.
  expect(await nf.answer()).toEqual([nf.standbyAddress]);
  expect(patches(nf)).toBe(1);
  expect(phase(nf)).toBe('failed_over');
  expect(app.controller.state(nf.id)?.activeSite).toBe('standby');

  // The contract metrics tell the same story on /metrics.
  const metrics = await (await fetch(`${app.apiUrl}/metrics`)).text();
  const value = (series: string) => {
    const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  expect(value('failover_switchovers_total{portal="refused",from="primary",to="standby",trigger="auto",result="success"}')).toBe(1);
  expect(value('failover_active_site{portal="refused",site="standby"}')).toBe(1);
  expect(value('failover_active_site{portal="refused",site="primary"}')).toBe(0);
  expect(value('failover_site_healthy{portal="refused",site="primary"}')).toBe(0);
  expect(value('failover_portal_phase{portal="both-down",phase="both_down"}')).toBe(1);
  expect(value('failover_portal_phase{portal="alternate",phase="healthy"}')).toBe(1);
  expect(value('failover_check_up{portal="refused",site="primary",check="http-0",vantage="v1"}')).toBe(0);
  expect(value('failover_check_up{portal="refused",site="standby",check="http-0",vantage="v1"}')).toBe(1);
  expect(value('failover_check_failures_total{portal="suspended",site="primary",check="http-0",vantage="v1",reason="content"}')).toBeGreaterThanOrEqual(3);
  expect(value('failover_check_failures_total{portal="hang",site="primary",check="http-0",vantage="v1",reason="timeout"}')).toBeGreaterThanOrEqual(3);
  expect(value('failover_controller_leader')).toBe(1);
  expect(value('failover_detection_seconds_count{portal="refused"}')).toBe(1);
  // Three failed probes one interval apart: the first failure to the decision is about two intervals.
  expect(value('failover_detection_seconds_sum{portal="refused"}')).toBeGreaterThanOrEqual(1.5);
  expect(value('failover_detection_seconds_sum{portal="refused"}')).toBeLessThan(10);
  expect(value('failover_switch_duration_seconds_count{portal="refused",trigger="auto"}')).toBe(1);
  expect(metrics).toMatch(/failover_check_duration_seconds_bucket\{le="0.005",portal="refused"/);
});
