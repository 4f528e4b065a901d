import type { Operation } from '@portal-failover/shared';
import { startRecordingProxy } from '../support/recording-proxy';
import { sharedPowerDns } from '../support/powerdns-server';
import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, sleep, type PortalFixture } from '../support/e2e';
import { startControllerCluster, type ControllerCluster } from '../support/controller-cluster';

jest.setTimeout(120_000);

let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
let p: PortalFixture;
let cluster: ControllerCluster | undefined;

beforeAll(async () => {
  proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
});

afterAll(async () => {
  await cluster?.stop();
  await p?.primary.close();
  await p?.standby.close();
  await proxy?.close();
});

it('a controller killed between applying and verifying a switch: the next one completes it once, not twice', async () => {
  p = await portalFixture('crash');
  const raw = e2eRawConfig([p], { apiUrl: proxy.url, controller: { leaseTtl: '2s', renewEvery: '500ms' } });
  const writes = () => proxy.acceptedWrites(encodeURIComponent(p.zone)).length;

  cluster = await startControllerCluster(raw, { controllers: [{ FAILOVER_FAILPOINTS: 'after-apply' }], healthy: [p.id], timeoutMs: 20_000 });
  const { store } = cluster;
  const [doomed] = cluster.controllers;

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

  const successor = cluster.spawnController();
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
