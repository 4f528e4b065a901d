import { Redis } from 'ioredis';
import { keys, StateStore, type Operation } from '@portal-failover/shared';
import { startRecordingProxy } from '../support/recording-proxy';
import { sharedPowerDns } from '../support/powerdns-server';
import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, sleep, type PortalFixture } from '../support/e2e';
import { spawnService, writeConfigFile, type ServiceProcess } from '../support/processes';
import { sharedRedisUrl } from '../support/redis-server';

jest.setTimeout(120_000);

let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
let p: PortalFixture;
let redis: Redis;
const procs: ServiceProcess[] = [];

beforeAll(async () => {
  proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
  redis = new Redis(sharedRedisUrl());
});

afterAll(async () => {
  await Promise.all(procs.map((x) => x.stop()));
  await p?.primary.close();
  await p?.standby.close();
  await proxy?.close();
  redis?.disconnect();
});

it('a controller killed between applying and verifying a switch: the next one completes it once, not twice', async () => {
  p = await portalFixture('crash');
  const raw = e2eRawConfig([p], { apiUrl: proxy.url, controller: { leaseTtl: '2s', renewEvery: '500ms' } });
  const prefix = (raw.redis as { prefix: string }).prefix;
  const store = new StateStore(redis, keys(prefix));
  const file = writeConfigFile(raw);
  const writes = () => proxy.acceptedWrites(encodeURIComponent(p.zone)).length;

  procs.push(spawnService('checker', file));
  const doomed = spawnService('controller', file, { FAILOVER_FAILPOINTS: 'after-apply' });
  procs.push(doomed);
  await waitFor(async () => (await store.loadState(p.id))?.phase === 'healthy', { timeoutMs: 20_000, what: 'portal healthy' });

  await p.primary.setMode({ kind: 'refuse' });
  const exit = await Promise.race([doomed.exited, sleep(20_000).then(() => undefined)]);
  expect(exit?.signal).toBe('SIGKILL');

  // It died after PowerDNS accepted the change and before it verified or recorded the result.
  expect(writes()).toBe(1);
  const state = await store.loadState(p.id);
  expect(state?.inflight).toBeDefined();
  expect(state?.activeSite).toBe('primary');
  const opId = state!.inflight!.operationId;
  expect((await store.loadOperation(opId))?.status).toBe('running');

  const successor = spawnService('controller', file);
  procs.push(successor);
  let op: Operation | undefined;
  await waitFor(async () => (op = await store.loadOperation(opId))?.status === 'succeeded', { timeoutMs: 20_000, what: 'operation resumed and succeeded' });

  expect(op).toMatchObject({ id: opId, from: 'primary', to: 'standby', resumedCount: 1 });
  expect(op!.steps[0]).toMatchObject({ status: 'verified', plan: { changes: false } });
  expect(writes()).toBe(1);
  expect(await p.answer()).toEqual([p.standbyAddress]);
  const after = await store.loadState(p.id);
  expect(after).toMatchObject({ activeSite: 'standby', phase: 'failed_over' });
  expect(after?.inflight).toBeUndefined();
  expect((await store.recentOperations(p.id, 10)).map((o) => o.id)).toEqual([opId]);
  expect(successor.output()).toContain(`resuming operation ${opId}`);
});
