import type { AuditEntry } from '@portal-failover/shared';
import { waitFor } from '../support/free-port';
import type { PortalFixture } from '../support/e2e';
import {
  bearer,
  bodyOf,
  getPortal,
  listOperations,
  startStack,
  waitForOperation,
  waitForSiteStatus,
  type DryRunBody,
  type ErrorBody,
  type OperationBody,
  type Stack,
} from './support';

/**
 * Acceptance 3 (issue "Runbook API") on the whole stack: checker, controller and API in one process, real Redis,
 * real PowerDNS behind a recording proxy (so the writes counted are the ones PowerDNS really received).
 * autoFailover is off for this portal so that only the runbook API moves traffic here: with it on, the
 * controller would fail over away from a standby that was forced active while down.
 */
jest.setTimeout(120_000);

let stack: Stack;
let p: PortalFixture;
const api = () => stack.api();
const zonePath = () => encodeURIComponent(p.zone);
const patches = () => stack.proxy.writes(zonePath()).filter((r) => r.method === 'PATCH');
const acceptedPatches = () => stack.proxy.acceptedWrites(zonePath()).filter((r) => r.method === 'PATCH');
const switchover = (body: Record<string, unknown>, role: 'operator' | 'admin' = 'operator') =>
  api().post(`/api/v1/portals/${p.id}/switchover`).set('Authorization', bearer(role)).send(body);

async function auditOf(type?: string): Promise<AuditEntry[]> {
  const res = await api()
    .get('/api/v1/audit')
    .query({ portal: p.id, limit: 1000, ...(type ? { type } : {}) })
    .set('Authorization', bearer('viewer'));
  expect(res.status).toBe(200);
  return bodyOf<{ entries: AuditEntry[] }>(res).entries;
}

beforeAll(async () => {
  stack = await startStack(['switchover'], { policy: { failureThreshold: 2, recoveryThreshold: 2, autoFailover: false } });
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

let plannedBody: unknown;
let plannedUrl = '';
let forcedId = '';

it('a dry run returns the plan and the preconditions, and changes nothing', async () => {
  const res = await switchover({ to: 'standby', reason: 'planned move rehearsal', dryRun: true });
  expect(res.status).toBe(200);
  const dry = bodyOf<DryRunBody>(res);
  expect(dry).toMatchObject({ dryRun: true, portal: p.id, from: 'primary', to: 'standby', wouldProceed: true });
  expect(dry.preconditions.every((c) => c.ok)).toBe(true);
  expect(dry.plan).toHaveLength(1);
  expect(dry.plan[0]).toMatchObject({ step: 1, kind: 'powerdns', changes: true });
  expect(dry.plan[0].description).toContain(`${p.primaryAddress}] -> ${p.standbyAddress}`);
  expect(dry.plan[0].request).toMatchObject({ method: 'PATCH', body: { rrsets: [{ name: p.record, type: 'A', changetype: 'REPLACE', records: [{ content: p.standbyAddress, disabled: false }] }] } });

  // Nothing was written, asked for or recorded.
  expect(stack.proxy.writes(zonePath())).toHaveLength(0);
  expect(await listOperations(api, p.id)).toEqual([]);
  expect((await getPortal(api, p.id)).pendingRequest).toBeNull();
  expect((await auditOf()).filter((e) => e.type.startsWith('operation.'))).toEqual([]);
  expect(await p.answer()).toEqual([p.primaryAddress]);
});

it('switching to an unhealthy site is refused with the reason (409), and a forced dry run plans it', async () => {
  await p.standby.setMode({ kind: 'refuse' });
  const view = await waitForSiteStatus(api, p.id, 'standby', 'down');
  expect(view.activeSite).toBe('primary');

  const res = await switchover({ to: 'standby', reason: 'planned move to a dead site' });
  expect(res.status).toBe(409);
  const err = bodyOf<ErrorBody>(res).error;
  expect(err).toMatch(/precondition failed: target healthy by quorum: standby is down \(down on v1\)/);
  expect(err).toContain('force: true overrides this');

  const dry = bodyOf<DryRunBody>(await switchover({ to: 'standby', reason: 'rehearse the forced move', dryRun: true }));
  expect(dry.wouldProceed).toBe(false);
  expect(dry.preconditions.find((c) => !c.ok)).toMatchObject({ check: 'target healthy by quorum', detail: expect.stringContaining('standby is down') });

  const forcedDry = await switchover({ to: 'standby', reason: 'rehearse the forced move', dryRun: true, force: true });
  expect(forcedDry.status).toBe(200);
  const fd = bodyOf<DryRunBody>(forcedDry);
  expect(fd.wouldProceed).toBe(true);
  plannedBody = fd.plan[0].request?.body;
  plannedUrl = String(fd.plan[0].request?.url);
  expect(plannedBody).toBeDefined();

  // Still nothing written, no operation, no intent.
  expect(stack.proxy.writes(zonePath())).toHaveLength(0);
  expect(await listOperations(api, p.id)).toEqual([]);
  expect((await getPortal(api, p.id)).pendingRequest).toBeNull();
});

it('force: 202, executed, and the operation and the audit say it was forced past the health check', async () => {
  const res = await switchover({ to: 'standby', reason: 'primary provider cuts us off at midnight', force: true });
  expect(res.status).toBe(202);
  const accepted = bodyOf<OperationBody>(res);
  expect(accepted).toMatchObject({ portal: p.id, from: 'primary', to: 'standby', trigger: 'manual', status: 'pending', force: true, actor: 'olga-operator' });
  expect(res.headers.location).toBe(`/api/v1/operations/${accepted.id}`);
  forcedId = accepted.id;

  const op = await waitForOperation(api, accepted.id);
  expect(op).toMatchObject({ status: 'succeeded', force: true, from: 'primary', to: 'standby', trigger: 'manual', reason: 'primary provider cuts us off at midnight' });
  expect(op.steps).toEqual([expect.objectContaining({ status: 'verified', verified: expect.stringContaining(p.standbyAddress) })]);
  await waitFor(async () => (await p.answer())[0] === p.standbyAddress, { timeoutMs: 10_000, what: 'DNS answer moved to the standby' });

  // Exactly one accepted PATCH, and its body is byte for byte the one the forced dry run showed.
  expect(acceptedPatches()).toHaveLength(1);
  for (const w of patches()) {
    expect(JSON.parse(w.body)).toEqual(plannedBody);
    expect(w.body).toBe(JSON.stringify(plannedBody));
    expect(`${stack.proxy.url}${w.path}`).toBe(plannedUrl);
  }
  expect(op.steps[0].plan?.request).toMatchObject({ method: 'PATCH', url: plannedUrl, body: plannedBody });

  const entries = (await auditOf('operation')).filter((e) => e.operation === accepted.id);
  expect(entries.map((e) => e.type)).toEqual(['operation.requested', 'operation.started', 'operation.finished']);
  const [requested, started, finished] = entries;
  expect(requested).toMatchObject({ actor: 'olga-operator', reason: 'primary provider cuts us off at midnight', data: { force: true, forcedPast: ['target healthy by quorum'], from: 'primary', to: 'standby' } });
  expect(started.data).toMatchObject({ force: true, decision: expect.stringContaining('forced past the preconditions') });
  expect(finished.data).toMatchObject({ force: true, result: 'succeeded' });
});

it('two concurrent switchover requests: exactly one 202 and one 409, and only one operation runs', async () => {
  expect((await getPortal(api, p.id)).activeSite).toBe('standby');
  const before = (await listOperations(api, p.id)).length;
  const body = { to: 'primary', reason: 'back to the primary' };
  const [a, b] = await Promise.all([switchover(body), switchover(body, 'admin')]);
  const statuses = [a.status, b.status].sort();
  expect(statuses).toEqual([202, 409]);
  const winner = a.status === 202 ? a : b;
  const loser = a.status === 202 ? b : a;
  const id = bodyOf<OperationBody>(winner).id;
  const lost = bodyOf<ErrorBody>(loser);
  expect(lost.error).toMatch(/another switchover|no operation in flight|target is not the active site/);
  if (lost.operationId !== undefined) expect(lost.operationId).toBe(id);

  const op = await waitForOperation(api, id);
  expect(op.status).toBe('succeeded');
  await waitFor(async () => (await p.answer())[0] === p.primaryAddress, { timeoutMs: 10_000, what: 'DNS answer back on the primary' });
  const ops = await listOperations(api, p.id);
  expect(ops).toHaveLength(before + 1);
  expect(ops.map((o) => o.id)).toEqual([id, forcedId]);
  expect(acceptedPatches()).toHaveLength(2);
  expect((await auditOf('operation.requested')).map((e) => e.operation)).toEqual([forcedId, id]);
});

it('eight concurrent forced requests from both roles: still exactly one is accepted', async () => {
  const before = acceptedPatches().length;
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => switchover({ to: 'standby', reason: `stampede request ${i}`, force: true }, i % 2 ? 'admin' : 'operator')),
  );
  const accepted = results.filter((r) => r.status === 202);
  expect(results.map((r) => r.status).sort()).toEqual([202, 409, 409, 409, 409, 409, 409, 409]);
  const op = await waitForOperation(api, bodyOf<OperationBody>(accepted[0]).id);
  expect(op.status).toBe('succeeded');
  expect(acceptedPatches()).toHaveLength(before + 1);
  expect(await listOperations(api, p.id)).toHaveLength(3);
});
