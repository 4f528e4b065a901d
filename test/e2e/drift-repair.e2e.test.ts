import { Redis } from 'ioredis';
import { AuditLog, createMetrics, keys, StateStore, type Metrics } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { startRecordingProxy } from '../support/recording-proxy';
import { replaceRRsets, sharedPowerDns } from '../support/powerdns-server';
import { waitFor } from '../support/free-port';
import { e2eConfig, portalFixture, sleep, testLogger, type PortalFixture } from '../support/e2e';
import { sharedRedisUrl } from '../support/redis-server';
import { reportRow } from '../chaos/report';

/**
 * policy.onDrift: repair. Someone edits the PowerDNS record behind the service's back (straight at PowerDNS, not
 * through the proxy the controller writes through). The leader's reconciliation sees the drift, audits
 * drift.detected with both values, and puts the recorded site back through a normal operation: fenced with its
 * lease token, verified, audited (operation.started / operation.finished), exactly one write, and no second repair.
 * A real cut afterwards is still switched. Also a row of `npm run chaos` (drift detected and repaired).
 */
jest.setTimeout(120_000);

const FOREIGN = '203.0.113.99';
let app: AllInOne | undefined;
let fx: PortalFixture;
let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
let client: Redis;

afterAll(async () => {
  await app?.stop();
  client?.disconnect();
  await Promise.all([fx?.primary.close(), fx?.standby.close(), proxy?.close()]);
});

const inSync = async (m: Metrics) => (await m.trafficInSync.get()).values.map((v) => v.value);

it('a record edited behind our back is put back on the recorded site by a fenced, verified, audited operation', async () => {
  proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
  fx = await portalFixture('drift');
  const config = e2eConfig([fx], { apiUrl: proxy.url, policy: { onDrift: 'repair' }, controller: { reconcileEvery: '1s' } });
  const metrics = createMetrics(undefined, { defaultMetrics: false });
  app = await startAllInOne(config, testLogger(), metrics);
  await waitFor(() => app!.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 30_000, what: 'healthy' });
  await waitFor(async () => (await inSync(metrics)).join() === '1', { timeoutMs: 10_000, what: 'in sync before the edit' });
  const writes = () => proxy.acceptedWrites(encodeURIComponent(fx.zone)).length;
  expect(writes()).toBe(0);

  const editedAt = Date.now();
  await replaceRRsets(sharedPowerDns(), fx.zone, [{ name: fx.record, type: 'A', ttl: 30, records: [FOREIGN] }]);
  expect(await fx.answer()).toEqual([FOREIGN]);

  await waitFor(async () => (await fx.answer())[0] === fx.primaryAddress, { timeoutMs: 20_000, what: 'the record put back on the primary' });
  const repairedMs = Date.now() - editedAt;
  await waitFor(() => app!.controller.state(fx.id)?.inflight === undefined && app!.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 10_000, what: 'healthy, nothing in flight' });
  await waitFor(async () => (await inSync(metrics)).join() === '1', { timeoutMs: 10_000, what: 'in sync after the repair' });

  client = new Redis(sharedRedisUrl());
  const k = keys(config.redis.prefix);
  const audit = new AuditLog(client, k.audit, config.audit.retention);
  const entries = (await audit.query({ portal: fx.id, since: editedAt })).entries;
  const types = entries.map((e) => e.type).filter((t) => ['drift.detected', 'operation.started', 'operation.finished'].includes(t));
  expect(types).toEqual(['drift.detected', 'operation.started', 'operation.finished']);
  const drift = entries.find((e) => e.type === 'drift.detected')!;
  expect(drift.data).toMatchObject({ recorded: 'primary', observed: FOREIGN, onDrift: 'repair' });
  const started = entries.find((e) => e.type === 'operation.started')!;
  expect(started.data).toMatchObject({ from: 'primary', to: 'primary', trigger: 'auto' });
  const finished = entries.find((e) => e.type === 'operation.finished')!;
  expect(finished.operation).toBe(started.operation);
  expect(finished.data).toMatchObject({ result: 'succeeded' });

  // The operation as stored: fenced with the leader's current token, every step verified on the primary.
  const op = await new StateStore(client, k).loadOperation(started.operation!);
  const token = Number((await client.get(k.lease))!.split('|').pop());
  expect(op).toMatchObject({ status: 'succeeded', from: 'primary', to: 'primary', trigger: 'auto', fence: token });
  expect(op!.steps.map((s) => [s.status, s.verified])).toEqual([['verified', `${fx.record} A is ${fx.primaryAddress}`]]);

  // One write, and no second repair in the following reconciliations.
  expect(writes()).toBe(1);
  await sleep(3_000);
  expect(writes()).toBe(1);
  process.stdout.write(`drift repaired ${repairedMs} ms after the edit (reconcileEvery 1 s)\n`);

  await fx.primary.setMode({ kind: 'refuse' });
  await waitFor(async () => (await fx.answer())[0] === fx.standbyAddress, { timeoutMs: 30_000, what: 'the cut after the repair is switched' });
  await waitFor(() => app!.controller.state(fx.id)?.phase === 'failed_over', { timeoutMs: 10_000, what: 'failed over' });
  expect(writes()).toBe(2);
  reportRow({
    case: 'PowerDNS record edited behind our back (policy.onDrift: repair)',
    trials: 1,
    falseFailovers: 0,
    doubleExecutions: 0,
    leftFailingOver: 0,
    cutSwitchedAfter: 'yes',
    recovery: `drift detected and repaired ${repairedMs} ms after the edit (reconcileEvery 1 s)`,
  });
});
