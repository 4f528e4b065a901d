import type { AuditEntry } from '@portal-failover/shared';
import request from 'supertest';
import { portalFixture, type PortalFixture } from '../support/e2e';
import { apiRawConfig, bearer, bodyOf, startApiHarness, type ApiHarness, type ErrorBody } from './support';
import { parseConfig } from '@portal-failover/shared';

/**
 * POST/GET/DELETE /api/v1/portals/:id/risk-windows on the real API and Redis: announced cuts are stored, shown
 * with their zone, audited, and every bad window is refused naming the field and why.
 */
jest.setTimeout(60_000);

let fx: PortalFixture;
let h: ApiHarness;
const path = () => `/api/v1/portals/${fx.id}/risk-windows`;
const post = (body: unknown, role: 'operator' | 'viewer' | 'automation' = 'operator') => request(h.server).post(path()).set('Authorization', bearer(role)).send(body as object);
const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString().slice(0, 10);
const good = () => ({ name: 'billing-cutoff', start: `${inDays(3)}T00:00:00+07:00`, duration: '6h', leadTime: '2h', lowerTtlTo: '5s', reason: 'hosting-a announced the cut' });

beforeAll(async () => {
  fx = await portalFixture('risk-api-unit');
  const raw = apiRawConfig([fx]);
  (raw.portals as Record<string, unknown>[])[0].riskWindows = [{ name: 'in-config', start: `${inDays(10)}T09:00:00Z`, duration: '1h', leadTime: '30m', lowerTtlTo: 10 }];
  const { REDIS_URL: _ignored, ...env } = process.env;
  h = await startApiHarness(parseConfig(raw, 'api-test', env));
});

afterAll(async () => {
  await h?.close();
  await Promise.all([fx?.primary.close(), fx?.standby.close()]);
});

it.each([
  [{ start: `${inDays(3)}T00:00:00` }, 'start', /has no zone/],
  [{ start: '2020-07-04T00:00:00+07:00' }, 'start', /is in the past: it ended at 2020-07-04T06:00:00\+07:00/],
  [{ lowerTtlTo: '60s' }, 'lowerTtlTo', /60s is larger than the 30s TTL of traffic step 1 \(powerdns www\./],
  [{ lowerTtlTo: 'soon' }, 'lowerTtlTo', /is not a TTL/],
  [{ duration: undefined }, 'duration', /is required|must be a duration/],
  [{ leadTime: '-1h' }, 'leadTime', /is not a duration/],
  [{ name: '../x' }, 'name', /lower-case/],
  [{ extra: true }, '(body)', /unknown field "extra"/],
])('refuses %j: 400 naming %s', async (change, field, why) => {
  const res = await post({ ...good(), ...change });
  expect(res.status).toBe(400);
  expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
  const errors = bodyOf<ErrorBody>(res).problems ?? [];
  expect(errors.some((e) => e.path === field && why.test(e.message))).toBe(true);
});

it('viewers and automation may read but not announce', async () => {
  expect((await post(good(), 'viewer')).status).toBe(403);
  expect((await post(good(), 'automation')).status).toBe(403);
  expect((await request(h.server).get(path()).set('Authorization', bearer('viewer'))).status).toBe(200);
});

it('announces, lists with zones and phase, refuses a duplicate, withdraws; every change audited', async () => {
  const w = good();
  const created = await post(w);
  expect(created.status).toBe(201);
  expect(created.body.window).toMatchObject({ name: 'billing-cutoff', start: w.start, end: `${inDays(3)}T06:00:00+07:00`, prepareFrom: `${inDays(2)}T22:00:00+07:00`, phase: 'scheduled', source: 'api', lowerTtlTo: 5, createdBy: expect.any(String) });
  expect(created.body.window.startUtc).toBe(`${inDays(2)}T17:00:00Z`);
  expect((await post(w)).status).toBe(409);
  expect((await post({ ...w, name: 'in-config' })).status).toBe(409);

  const list = await request(h.server).get(path()).set('Authorization', bearer('viewer'));
  expect(list.body.windows.map((x: { name: string; source: string }) => [x.name, x.source])).toEqual([
    ['billing-cutoff', 'api'],
    ['in-config', 'config'],
  ]);
  const portal = await request(h.server).get(`/api/v1/portals/${fx.id}`).set('Authorization', bearer('viewer'));
  expect(portal.body.riskWindows.map((x: { name: string }) => x.name)).toEqual(['billing-cutoff', 'in-config']);
  expect(portal.body.ttlLowered).toBeNull();

  expect((await request(h.server).delete(`${path()}/in-config`).set('Authorization', bearer('operator')).send({})).status).toBe(409);
  expect((await request(h.server).delete(`${path()}/nope`).set('Authorization', bearer('operator')).send({})).status).toBe(404);
  const removed = await request(h.server).delete(`${path()}/billing-cutoff`).set('Authorization', bearer('operator')).send({ reason: 'the provider withdrew the notice' });
  expect(removed.status).toBe(200);
  expect(removed.body.window.name).toBe('billing-cutoff');
  const after = await request(h.server).get(path()).set('Authorization', bearer('viewer'));
  expect(after.body.windows.map((x: { name: string }) => x.name)).toEqual(['in-config']);

  const audit = await request(h.server).get('/api/v1/audit').query({ portal: fx.id, limit: 100 }).set('Authorization', bearer('viewer'));
  const entries = (audit.body.entries as AuditEntry[]).filter((e) => e.type.startsWith('risk-window.'));
  expect(entries.map((e) => [e.type, e.reason])).toEqual([
    ['risk-window.added', 'hosting-a announced the cut'],
    ['risk-window.removed', 'the provider withdrew the notice'],
  ]);
});
