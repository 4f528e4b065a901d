import type { AuditEntry } from '@portal-failover/shared';
import { waitFor } from '../support/free-port';
import type { PortalFixture } from '../support/e2e';
import {
  auditPages,
  bearer,
  bodyOf,
  expectNoSecrets,
  getPortal,
  listOperations,
  rawAudit,
  rawKeyspace,
  startStack,
  TOKEN_NAMES,
  waitForOperation,
  waitForSiteStatus,
  type OperationBody,
  type Stack,
} from './support';

/**
 * Acceptance 5 (issue "Runbook API"): a scripted on-call day on the whole stack, then the audit log read back
 * page by page: every event, in order, with who, why, the evidence and the timings, and no secret anywhere.
 */
jest.setTimeout(120_000);

let stack: Stack;
let p: PortalFixture;
const api = () => stack.api();
const responses: string[] = [];
const record = <T extends { text: string }>(res: T): T => {
  responses.push(res.text);
  return res;
};

const ACK_REASON = 'seen the automatic switch; hosting-a is investigating';
const BACK_REASON = 'hosting-a restored service, moving back (ticket OPS-4211)';
const FREEZE_REASON = 'election night: no automatic switches';
const UNFREEZE_REASON = 'election night is over';
const freezeUntil = new Date(Date.now() + 2 * 3600_000).toISOString();

let autoOp: OperationBody;
let manualOp: OperationBody;

beforeAll(async () => {
  stack = await startStack(['auditday'], { policy: { failureThreshold: 2, recoveryThreshold: 2, cooldown: '10m' } });
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

it('runs the day: automatic switch, ack, manual switch back, freeze with until, unfreeze', async () => {
  // 1. The primary's provider starts answering 503: the controller switches by itself.
  await p.primary.setMode({ kind: 'status', status: 503 });
  autoOp = await waitFor(
    async () => {
      const auto = (await listOperations(api, p.id)).find((o) => o.trigger === 'auto');
      return auto ? waitForOperation(api, auto.id) : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100, what: 'an automatic operation finished' },
  );
  expect(autoOp).toMatchObject({ status: 'succeeded', from: 'primary', to: 'standby' });
  await waitFor(async () => (await p.answer())[0] === p.standbyAddress, { timeoutMs: 10_000, what: 'DNS on the standby' });

  // 2. On-call acknowledges it.
  const ack = record(await api().post(`/api/v1/portals/${p.id}/ack`).set('Authorization', bearer('operator')).send({ reason: ACK_REASON }));
  expect(ack.status).toBe(200);
  expect((await getPortal(api, p.id)).cooldown).toMatchObject({ acknowledged: true });

  // 3. The primary recovers; failback is manual, so on-call switches back with a reason.
  await p.primary.setMode({ kind: 'ok' });
  await waitForSiteStatus(api, p.id, 'primary', 'up');
  const sw = record(await api().post(`/api/v1/portals/${p.id}/switchover`).set('Authorization', bearer('operator')).send({ to: 'primary', reason: BACK_REASON }));
  expect(sw.status).toBe(202);
  manualOp = await waitForOperation(api, bodyOf<OperationBody>(sw).id);
  expect(manualOp).toMatchObject({ status: 'succeeded', from: 'standby', to: 'primary', trigger: 'manual' });
  await waitFor(async () => (await p.answer())[0] === p.primaryAddress, { timeoutMs: 10_000, what: 'DNS back on the primary' });

  // 4. Freeze for the night, with an end; 5. lift it early.
  const fr = record(await api().post(`/api/v1/portals/${p.id}/freeze`).set('Authorization', bearer('admin')).send({ reason: FREEZE_REASON, until: freezeUntil }));
  expect(fr.status).toBe(200);
  expect(bodyOf<{ frozen: { until: number } }>(fr).frozen.until).toBe(Date.parse(freezeUntil));
  await waitFor(async () => (await getPortal(api, p.id)).phase === 'frozen', { timeoutMs: 5_000, what: 'phase frozen' });
  const un = record(await api().delete(`/api/v1/portals/${p.id}/freeze`).set('Authorization', bearer('admin')).send({ reason: UNFREEZE_REASON }));
  expect(un.status).toBe(200);
  await waitFor(async () => (await getPortal(api, p.id)).phase === 'healthy', { timeoutMs: 5_000, what: 'phase healthy again' });
});

describe('the audit log of that day', () => {
  let all: AuditEntry[];

  beforeAll(async () => {
    // operation.finished is written just after the operation is stored: give it a moment.
    await waitFor(async () => (await auditPages(api, { portal: p.id }, 1000)).entries.length >= 9, { timeoutMs: 5_000, what: 'nine audit entries' });
    const paged = await auditPages(api, { portal: p.id }, 2);
    all = paged.entries;
    expect(paged.pages).toBeGreaterThanOrEqual(4);
  });

  it('paged with limit 2 and the cursor: every event, once, in order', async () => {
    expect(all.map((e) => `${e.type}${e.operation ? ` ${e.operation}` : ''}`)).toEqual([
      // The leader read the traffic steps when it took the lease, with nothing recorded yet.
      'routing.adopted',
      `operation.started ${autoOp.id}`,
      `operation.finished ${autoOp.id}`,
      'ack',
      `operation.requested ${manualOp.id}`,
      `operation.started ${manualOp.id}`,
      `operation.finished ${manualOp.id}`,
      'freeze',
      'unfreeze',
    ]);
    // Ids are the stream's: strictly increasing, so they order the day and serve as cursors.
    const ids = all.map((e) => e.id.split('-').map(Number));
    for (let i = 1; i < ids.length; i++) {
      const [ms, seq] = ids[i];
      const [pms, pseq] = ids[i - 1];
      expect({ id: all[i].id, after: all[i - 1].id, increasing: ms > pms || (ms === pms && seq > pseq) }).toEqual({ id: all[i].id, after: all[i - 1].id, increasing: true });
    }
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    // Any page size gives the same day.
    for (const limit of [1, 3, 1000]) expect((await auditPages(api, { portal: p.id }, limit)).entries).toEqual(all);
    // The type filter pages too (operation matches operation.*).
    expect((await auditPages(api, { portal: p.id, type: 'operation' }, 2)).entries).toEqual(all.filter((e) => e.type.startsWith('operation.')));
    // A time window: since the ack, inclusive.
    const ackAt = Date.parse(all[3].at);
    const since = (await auditPages(api, { portal: p.id, since: String(ackAt) }, 2)).entries;
    expect(since.map((e) => e.type)).toEqual(['ack', 'operation.requested', 'operation.started', 'operation.finished', 'freeze', 'unfreeze']);
  });

  it('the automatic switch: the decision reason and the evidence per vantage, then steps and timings', () => {
    const [adopted, started, finished] = all;
    expect(adopted).toMatchObject({ type: 'routing.adopted', portal: p.id });
    const actor = `controller:${stack.app.controller.owner}`;
    expect(started).toMatchObject({ portal: p.id, actor, reason: autoOp.reason });
    expect(started.reason).toMatch(/^primary is down \(down on v1\).*standby is up \(up on v1\).*switching primary -> standby$/);
    expect(started.data).toMatchObject({
      from: 'primary',
      to: 'standby',
      trigger: 'auto',
      fence: expect.any(Number),
      evidence: {
        sites: {
          primary: { status: 'down', vantages: [{ vantage: 'v1', verdict: 'down', failingSince: expect.any(Number), detail: expect.stringContaining('503') }] },
          standby: { status: 'up', vantages: [expect.objectContaining({ vantage: 'v1', verdict: 'up' })] },
        },
      },
    });
    expect(finished).toMatchObject({ actor, reason: autoOp.reason, data: { result: 'succeeded', trigger: 'auto', from: 'primary', to: 'standby', force: false } });
    expectSteps(finished, p.standbyAddress);
    const d = (finished.data as { durationsMs: Record<string, unknown> }).durationsMs;
    expect(d.detect).toEqual(expect.any(Number));
    expect(d.detect as number).toBeGreaterThanOrEqual(0);
    expect(d.switch).toEqual(expect.any(Number));
  });

  it('the ack: who and why', () => {
    expect(all[3]).toMatchObject({ type: 'ack', actor: TOKEN_NAMES.operator, reason: ACK_REASON, client: expect.stringMatching(/127\.0\.0\.1$/), data: { cooldownStartedAt: expect.any(Number) } });
  });

  it('the manual switch back: requested, started and finished with the actor name and the reason', () => {
    const [requested, started, finished] = all.slice(4, 7);
    for (const e of [requested, started, finished]) expect(e).toMatchObject({ actor: TOKEN_NAMES.operator, reason: BACK_REASON, operation: manualOp.id });
    expect(requested).toMatchObject({ client: expect.stringMatching(/127\.0\.0\.1$/), data: { from: 'standby', to: 'primary', trigger: 'manual', force: false, forcedPast: [] } });
    expect(started.data).toMatchObject({ trigger: 'manual', force: false, decision: expect.stringMatching(/^manual switchover standby -> primary; /), evidence: { sites: { primary: { status: 'up' } } } });
    expect(finished.data).toMatchObject({ result: 'succeeded', trigger: 'manual', force: false });
    expectSteps(finished, p.primaryAddress);
    const d = (finished.data as { durationsMs: Record<string, unknown> }).durationsMs;
    expect(d.queued).toEqual(expect.any(Number));
    expect(d.switch).toEqual(expect.any(Number));
  });

  it('freeze (with its until) and unfreeze: who and why', () => {
    const [freeze, unfreeze] = all.slice(7);
    expect(freeze).toMatchObject({ actor: TOKEN_NAMES.admin, reason: FREEZE_REASON, data: { until: freezeUntil } });
    expect(unfreeze).toMatchObject({ actor: TOKEN_NAMES.admin, reason: UNFREEZE_REASON, data: { wasFrozen: true, freeze: { until: Date.parse(freezeUntil), actor: TOKEN_NAMES.admin } } });
  });

  it('no secret anywhere: the PowerDNS API key and the tokens are in no response, audit entry or Redis key', async () => {
    const dump = await api().get('/api/v1/audit').query({ limit: 1000 }).set('Authorization', bearer('admin'));
    responses.push(dump.text);
    for (const path of [`/api/v1/portals`, `/api/v1/portals/${p.id}`, `/api/v1/portals/${p.id}/operations`, `/api/v1/operations/${autoOp.id}`, `/api/v1/operations/${manualOp.id}`]) {
      responses.push((await api().get(path).set('Authorization', bearer('viewer'))).text);
    }
    responses.push((await api().get('/metrics')).text);
    for (const r of responses) expectNoSecrets(r, 'an API response');
    expectNoSecrets(await rawAudit(stack.redis, stack.config.redis.prefix), 'the audit stream');
    expectNoSecrets(await rawKeyspace(stack.redis, stack.config.redis.prefix), 'the Redis keyspace');
    expectNoSecrets(JSON.stringify(all), 'the audit entries');
  });
});

function expectSteps(finished: AuditEntry, address: string): void {
  const steps = (finished.data as { steps: Record<string, unknown>[] }).steps;
  expect(steps).toHaveLength(1);
  expect(steps[0]).toMatchObject({
    step: 1,
    provider: `powerdns ${p.record}/A`,
    status: 'verified',
    attempts: expect.any(Number),
    change: expect.stringMatching(new RegExp(`^PATCH .*-> ${address.replace(/\./g, '\\.')}$`)),
    request: { method: 'PATCH', url: expect.stringContaining(encodeURIComponent(p.zone)), body: { rrsets: [expect.objectContaining({ records: [{ content: address, disabled: false }] })] } },
    verified: `${p.record} A is ${address}`,
    ms: expect.any(Number),
  });
  expect(steps[0].ms as number).toBeGreaterThanOrEqual(0);
}
