import type { AuditEntry } from '@portal-failover/shared';
import { waitFor } from '../support/free-port';
import { sleep, type PortalFixture } from '../support/e2e';
import {
  alertPayload,
  bearer,
  bodyOf,
  getPortal,
  listOperations,
  startStack,
  waitForOperation,
  type AlertmanagerResultBody,
  type Stack,
} from './support';

/**
 * Acceptance 4 (issue "Runbook API"): the Alertmanager webhook on the whole stack. A firing alert labelled with
 * the portal, failover_action=switchover and the failing (active) site switches once; repeats are duplicates,
 * resolutions do nothing, and the anti-flap cooldown blocks a second switch.
 */
jest.setTimeout(120_000);

let stack: Stack;
let p: PortalFixture;
const api = () => stack.api();
const acceptedPatches = () => stack.proxy.acceptedWrites(encodeURIComponent(p.zone)).filter((r) => r.method === 'PATCH');
const post = async (payload: unknown) => {
  const res = await api().post('/api/v1/hooks/alertmanager').set('Authorization', bearer('operator')).send(payload as object);
  expect({ status: res.status, body: res.text }).toEqual({ status: 200, body: res.text });
  return bodyOf<AlertmanagerResultBody>(res).results;
};
const labels = (extra: Record<string, string> = {}) => ({ alertname: 'PortalPrimaryDown', portal: p.id, failover_action: 'switchover', site: 'primary', severity: 'critical', ...extra });
const firing = (extra: Record<string, string> = {}) =>
  alertPayload([{ status: 'firing', labels: labels(extra), annotations: { summary: 'hosting-a answers 503 to every vantage' } }]);

async function alertAudit(): Promise<AuditEntry[]> {
  const res = await api().get('/api/v1/audit').query({ portal: p.id, type: 'alert.received', limit: 1000 }).set('Authorization', bearer('viewer'));
  return bodyOf<{ entries: AuditEntry[] }>(res).entries;
}

beforeAll(async () => {
  stack = await startStack(['alerts'], { policy: { failureThreshold: 2, recoveryThreshold: 2, cooldown: '10m' } });
  p = stack.fixtures[0];
  await waitFor(
    async () => {
      const v = await getPortal(api, p.id);
      return v.phase === 'healthy' && v.sites.every((s) => s.status === 'up');
    },
    { timeoutMs: 20_000, intervalMs: 100, what: 'portal healthy with both sites up' },
  );
});

afterAll(async () => {
  await stack?.close();
});

it('alerts without failover_action=switchover (or for other portals) are ignored', async () => {
  const results = await post(
    alertPayload([
      { status: 'firing', labels: { alertname: 'PortalSlow', portal: p.id, site: 'primary' } },
      { status: 'firing', labels: { alertname: 'PortalDown', portal: p.id, site: 'primary', failover_action: 'page' } },
      { status: 'firing', labels: { alertname: 'PortalDown', portal: p.id, site: 'primary', failover_action: 'Switchover' } },
      { status: 'firing', labels: { alertname: 'PortalDown', portal: 'some-other-portal', site: 'primary', failover_action: 'switchover' } },
      { status: 'firing', labels: { alertname: 'PortalDown', site: 'primary', failover_action: 'switchover' } },
    ]),
  );
  expect(results.map((r) => r.outcome)).toEqual(['ignored', 'ignored', 'ignored', 'ignored', 'ignored']);
  expect(results[0]).toMatchObject({ alert: 'PortalSlow', portal: p.id, detail: expect.stringContaining('failover_action=switchover') });
  expect(results[3].detail).toContain('unknown portal "some-other-portal"');
  expect(results[4].detail).toContain('no portal label');
  await sleep(600); // a few controller evaluations
  expect(await listOperations(api, p.id)).toEqual([]);
  expect(acceptedPatches()).toHaveLength(0);
});

let opId = '';

it('a firing alert switches once (trigger alert); the same payload repeated while it runs is a duplicate', async () => {
  const payload = firing();
  const first = await post(payload);
  expect(first).toEqual([expect.objectContaining({ alert: 'PortalPrimaryDown', portal: p.id, outcome: 'started', operationId: expect.any(String) })]);
  opId = first[0].operationId ?? '';
  const again = await post(payload);
  expect(again).toEqual([expect.objectContaining({ outcome: 'duplicate', operationId: opId })]);

  const op = await waitForOperation(api, opId);
  expect(op).toMatchObject({
    status: 'succeeded',
    trigger: 'alert',
    from: 'primary',
    to: 'standby',
    actor: 'alertmanager(olga-operator)',
    reason: 'alert PortalPrimaryDown: hosting-a answers 503 to every vantage',
    expectFrom: 'primary',
  });
  await waitFor(async () => (await p.answer())[0] === p.standbyAddress, { timeoutMs: 10_000, what: 'DNS answer moved to the standby' });
  const view = await getPortal(api, p.id);
  expect(view.activeSite).toBe('standby');
  // An alert-triggered switch is automation: it starts the anti-flap cooldown.
  expect(view.cooldown).toMatchObject({ active: true, acknowledged: false });
  expect(acceptedPatches()).toHaveLength(1);
});

it('a resolved alert does nothing', async () => {
  const results = await post(alertPayload([{ status: 'resolved', labels: labels() }]));
  expect(results).toEqual([expect.objectContaining({ outcome: 'ignored', detail: expect.stringContaining('resolved') })]);
  await sleep(600);
  expect(await listOperations(api, p.id)).toHaveLength(1);
});

it('firing again within the cooldown is blocked, and nothing switches a second time', async () => {
  // The same payload: it names primary, which is no longer active.
  const same = await post(firing());
  expect(same).toEqual([expect.objectContaining({ outcome: 'blocked', detail: 'alert is about primary, but standby is active' })]);
  // Now about the active site (standby), and without a site label: the cooldown blocks both.
  const aboutStandby = await post(firing({ site: 'standby', alertname: 'PortalStandbyDown' }));
  expect(aboutStandby).toEqual([expect.objectContaining({ outcome: 'blocked', detail: expect.stringMatching(/^anti-flap cooldown until /) })]);
  const noSite = alertPayload([{ status: 'firing', labels: { alertname: 'PortalDown', portal: p.id, failover_action: 'switchover' } }]);
  expect(await post(noSite)).toEqual([expect.objectContaining({ outcome: 'blocked', detail: expect.stringMatching(/^anti-flap cooldown until /) })]);

  await sleep(1_000);
  expect(await listOperations(api, p.id)).toHaveLength(1);
  expect(acceptedPatches()).toHaveLength(1);
  expect(await p.answer()).toEqual([p.standbyAddress]);

  const audit = await alertAudit();
  // The third alert is blocked for the same reason as the second (same portal, sender and cooldown): it is
  // counted into that entry's window (api.repeatWindow), not appended on its own.
  expect(audit.map((e) => [e.data?.outcome, e.data?.count])).toEqual([['started', undefined], ['blocked', 1], ['blocked', 1]]);
  expect(audit[0]).toMatchObject({ operation: opId, actor: 'alertmanager(olga-operator)' });
});

it('overall: exactly one accepted PATCH', () => {
  expect(acceptedPatches()).toHaveLength(1);
});
