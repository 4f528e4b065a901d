import request from 'supertest';
import { createMetrics, createRedis } from '@portal-failover/shared';
import { createApp } from '@portal-failover/api';
import { hashToken, type Role } from '../../services/api/src/auth';
import { routes, type RouteDef } from '../../services/api/src/routes';
import { portalFixture, type PortalFixture } from '../support/e2e';
import {
  apiConfig,
  bearer,
  bodyOf,
  expectNoSecrets,
  fillPath,
  rawAudit,
  rawKeyspace,
  ROLE_ORDER,
  startApiHarness,
  TOKEN_NAMES,
  TOKENS,
  type ApiHarness,
  type ErrorBody,
  type OperationBody,
} from './support';

/**
 * Acceptance 1 (issue "Runbook API"): the role x endpoint matrix, driven by the route table itself, so a route
 * added later is covered without touching this file.
 */
jest.setTimeout(60_000);

const defs = routes();
const guarded = defs.filter((d): d is RouteDef & { role: Role } => d.role !== undefined);
const open = defs.filter((d) => d.role === undefined);
const rank = (r: Role) => ROLE_ORDER.indexOf(r);
const label = (d: Pick<RouteDef, 'method' | 'path'>) => `${d.method.toUpperCase()} ${d.path}`;

let fx: PortalFixture;
let h: ApiHarness;
let operationId: string;
/** Every response body and header block the API sent in this file; checked for secrets at the end. */
const seen: string[] = [];

let windows = 0;

/** A request each route accepts from the right role, so "allowed" means a 2xx, not just "not 401/403". */
function sample(d: RouteDef): { body?: unknown; query?: Record<string, string> } {
  switch (label(d)) {
    case 'POST /api/v1/portals/:id/switchover':
      return { body: { to: 'standby', reason: 'access matrix dry run', dryRun: true } };
    case 'POST /api/v1/portals/:id/freeze':
      return { body: { reason: 'access matrix freeze' } };
    case 'DELETE /api/v1/portals/:id/freeze':
      return { body: { reason: 'access matrix unfreeze' } };
    case 'POST /api/v1/portals/:id/ack':
      return { body: { reason: 'access matrix ack' } };
    case 'POST /api/v1/hooks/alertmanager':
      return { body: { version: '4', status: 'resolved', alerts: [] } };
    case 'GET /api/v1/audit':
      return { query: { limit: '5' } };
    case 'POST /api/v1/tokens/reload':
      return { body: { reason: 'access matrix reload' } };
    case 'POST /api/v1/portals/:id/risk-windows':
      // A new name each call: every allowed role's request is a 201, not a duplicate's 409.
      return { body: { name: `access-${++windows}`, start: '2999-01-01T00:00:00+07:00', duration: '1h', leadTime: '1h', lowerTtlTo: '5s' } };
    case 'DELETE /api/v1/portals/:id/risk-windows/:name':
      return { body: { reason: 'access matrix withdrawal' } };
    default:
      return {};
  }
}

async function call(d: RouteDef, authorization: string | undefined) {
  const name = `withdrawn-${++windows}`;
  const path = fillPath(d, { id: d.path.startsWith('/api/v1/operations/') ? operationId : fx.id, name });
  const s = sample(d);
  if (label(d) === 'DELETE /api/v1/portals/:id/risk-windows/:name') {
    // The window it withdraws, announced by an admin first.
    await request(h.server).post(`/api/v1/portals/${fx.id}/risk-windows`).set('Authorization', bearer('admin')).send({ name, start: '2999-01-01T00:00:00Z', duration: '1h', leadTime: '0s', lowerTtlTo: 5 });
  }
  let req = request(h.server)[d.method](path);
  if (authorization !== undefined) req = req.set('Authorization', authorization);
  if (s.query) req = req.query(s.query);
  const res = s.body !== undefined ? await req.send(s.body as object) : await req;
  seen.push(`${label(d)} ${res.status} ${JSON.stringify(res.headers)} ${res.text}`);
  return res;
}

beforeAll(async () => {
  fx = await portalFixture('access');
  h = await startApiHarness(apiConfig([fx]));
  // One real (pending) operation so GET /operations/:id has something to show. No checker or controller runs
  // here, so no site has a health verdict and only force gets past the "target healthy" precondition.
  const res = await request(h.server)
    .post(`/api/v1/portals/${fx.id}/switchover`)
    .set('Authorization', bearer('operator'))
    .send({ to: 'standby', reason: 'seed an operation for the access matrix', force: true });
  expect(res.status).toBe(202);
  operationId = bodyOf<OperationBody>(res).id;
});

afterAll(async () => {
  await h?.close();
  await fx?.primary.close();
  await fx?.standby.close();
});

/** Admin-only reads: the token listing. Every other read is open to every role. */
const ADMIN_READS = ['GET /api/v1/tokens'];
/** The one change the automation role (Alertmanager) may make: send alerts. */
const AUTOMATION_CHANGES = ['POST /api/v1/hooks/alertmanager'];

it('the route table follows the role model: reads need viewer, alerts need automation, other changes at least operator', () => {
  expect(guarded.length).toBeGreaterThan(0);
  for (const d of guarded) {
    if (d.method === 'get') expect({ route: label(d), role: d.role }).toEqual({ route: label(d), role: ADMIN_READS.includes(label(d)) ? 'admin' : 'viewer' });
    else if (AUTOMATION_CHANGES.includes(label(d))) expect({ route: label(d), role: d.role }).toEqual({ route: label(d), role: 'automation' });
    else expect({ route: label(d), operatorOrMore: rank(d.role) >= rank('operator') }).toEqual({ route: label(d), operatorOrMore: true });
    if (d.method !== 'get') expect({ route: label(d), mutates: d.mutates }).toEqual({ route: label(d), mutates: true });
  }
  // Only probes, metrics, the API description and the public status page are open.
  expect(open.map(label).sort()).toEqual(['GET /api/v1/openapi.json', 'GET /healthz', 'GET /metrics', 'GET /readyz', 'GET /status', 'GET /status.json']);
});

describe.each(open.map((d) => [label(d), d] as const))('%s (no role)', (_name, d) => {
  it('answers 200 without a token', async () => {
    const res = await call(d, undefined);
    expect(res.status).toBe(200);
  });
});

describe.each(guarded.map((d) => [label(d), d] as const))('%s', (_name, d) => {
  it('no token: 401 with WWW-Authenticate: Bearer', async () => {
    const res = await call(d, undefined);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(bodyOf<ErrorBody>(res).error).toMatch(/bearer token/);
  });

  it.each([
    ['an unknown token', 'Bearer pf_not_a_token_anybody_has_0000000000'],
    ['a known token with one character changed', `Bearer ${TOKENS.admin.slice(0, -1)}${TOKENS.admin.endsWith('A') ? 'B' : 'A'}`],
    ['a known token in upper case', `Bearer ${TOKENS.admin.toUpperCase()}`],
    ['a known token with another scheme', `Basic ${TOKENS.admin}`],
    ['a known token without a scheme', TOKENS.admin],
    ['a known token followed by another word', `Bearer ${TOKENS.admin} extra`],
    ['the scheme alone', 'Bearer '],
    ["the token's sha256 instead of the token", `Bearer ${hashToken(TOKENS.admin)}`],
  ])('%s: 401', async (_what, authorization) => {
    const res = await call(d, authorization);
    expect(res.status).toBe(401);
  });

  const lower = ROLE_ORDER.filter((r) => rank(r) < rank(d.role));
  const enough = ROLE_ORDER.filter((r) => rank(r) >= rank(d.role));

  if (lower.length) {
    it.each(lower)('role %s is too low: 403 naming the needed role', async (role) => {
      const res = await call(d, bearer(role));
      expect(res.status).toBe(403);
      const err = bodyOf<ErrorBody>(res).error;
      expect(err).toContain(d.role);
      expect(err).toContain(TOKEN_NAMES[role]);
    });
  }

  it.each(enough)('role %s is allowed (answer is neither 401 nor 403, and a 2xx for the sample request)', async (role) => {
    const res = await call(d, bearer(role));
    expect([401, 403]).not.toContain(res.status);
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
    expect(Object.keys(d.responses)).toContain(String(res.status));
  });

  it('the Bearer scheme is case-insensitive and surrounding spaces are tolerated', async () => {
    const res = await call(d, `bearer   ${TOKENS.admin}  `);
    expect([401, 403]).not.toContain(res.status);
  });
});

it('a rate limit cannot be dodged by sending a different made-up token with each request', async () => {
  // Expected behaviour: requests whose token authenticates nobody are limited per client address, like requests
  // without a token. app.ts keys the limiter on the raw Authorization header, so every invented token gets a
  // fresh bucket and an attacker guessing tokens is never slowed down.
  const config = apiConfig([fx], { rateLimitMax: 3 });
  const redis = createRedis(config.redis, 'command');
  try {
    // Control: the limiter itself works for requests without a token.
    const control = createApp({ config, redis, metrics: createMetrics(undefined, { defaultMetrics: false }) });
    const plain: number[] = [];
    for (let i = 0; i < 4; i++) plain.push((await request(control).get('/api/v1/portals')).status);
    expect(plain).toEqual([401, 401, 401, 429]);

    const app = createApp({ config, redis, metrics: createMetrics(undefined, { defaultMetrics: false }) });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await request(app).get('/api/v1/portals').set('Authorization', `Bearer guess-${i}-${'x'.repeat(20)}`);
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(3)).toEqual(Array(7).fill(429));
  } finally {
    await redis.quit();
  }
});

it('no token value appears in any response, in the audit log or anywhere under the Redis prefix', async () => {
  // The 403 answers name the token (its name), never its value; the audit records the name as the actor.
  const audit = await rawAudit(h.redis, h.config.redis.prefix);
  expect(audit).toContain(TOKEN_NAMES.operator);
  expectNoSecrets(audit, 'the audit stream');
  expectNoSecrets(await rawKeyspace(h.redis, h.config.redis.prefix), 'the Redis keyspace');
  expect(seen.length).toBeGreaterThan(guarded.length * 5);
  for (const s of seen) expectNoSecrets(s, 'an API response');
  // The audit as viewers read it through the API, too.
  const res = await request(h.server).get('/api/v1/audit').query({ limit: 1000 }).set('Authorization', bearer('admin'));
  expect(res.status).toBe(200);
  expectNoSecrets(res.text, 'GET /api/v1/audit');
});
