import fc from 'fast-check';
import request from 'supertest';
import { routes, type RouteDef } from '../../services/api/src/routes';
import { apiConfig, bearer, bodyOf, fillPath, startApiHarness, type ApiHarness, type ErrorBody } from '../api/support';
import { portalFixture, type PortalFixture } from '../support/e2e';
import { mutate, paths, type Path } from './mutate';

/**
 * Issue #9: every API body and query (the zod schemas of services/api/src/schemas.ts, reached through the route
 * table) fuzzed against the real app on real Redis: a valid request with one field replaced, removed or joined by
 * an unknown key, and bodies of any shape. Never a 5xx; every 400 names the fields at fault; a wrong type at a
 * field is reported at that field.
 */
jest.setTimeout(180_000);
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);


let fx: PortalFixture;
let h: ApiHarness;

beforeAll(async () => {
  fx = await portalFixture('fuzz');
  h = await startApiHarness(apiConfig([fx]));
  // The window the DELETE route's valid request withdraws (and the POST's valid request collides with: a 409).
  const w = valid(routes().find((d) => label(d) === 'POST /api/v1/portals/:id/risk-windows')!).body;
  expect((await request(h.server).post(`/api/v1/portals/${fx.id}/risk-windows`).set('Authorization', bearer('admin')).send(w!)).status).toBe(201);
});
afterAll(async () => {
  await h?.close();
  await fx?.primary.close();
  await fx?.standby.close();
});

/** Stands for the fixture's portal id in the requests, which are built before the fixture exists. */
const PORTAL = '@portal@';
const withPortal = (v: unknown): unknown => (v === undefined ? undefined : (JSON.parse(JSON.stringify(v).replaceAll(PORTAL, fx.id)) as unknown));

const label = (d: RouteDef) => `${d.method.toUpperCase()} ${d.path}`;

const WINDOW = 'fuzzed';

/** A request each route accepts, to mutate from. */
function valid(d: RouteDef): { body?: Record<string, unknown>; query?: Record<string, unknown> } {
  switch (label(d)) {
    case 'POST /api/v1/portals/:id/switchover':
      return { body: { to: 'standby', reason: 'fuzzed switchover', dryRun: true, force: false } };
    case 'POST /api/v1/portals/:id/freeze':
      return { body: { reason: 'fuzzed freeze', until: '2999-01-01T00:00:00Z' } };
    case 'POST /api/v1/portals/:id/unfreeze':
    case 'DELETE /api/v1/portals/:id/freeze':
      return { body: { reason: 'fuzzed unfreeze' } };
    case 'POST /api/v1/portals/:id/ack':
      return { body: { reason: 'fuzzed ack' } };
    case 'POST /api/v1/tokens/reload':
      return { body: { reason: 'fuzzed reload' } };
    case 'POST /api/v1/portals/:id/risk-windows':
      return { body: { name: WINDOW, start: '2999-01-01T00:00:00+07:00', duration: '6h', leadTime: '2h', lowerTtlTo: '5s', probeInterval: '1s', reason: 'fuzzed window' } };
    case 'DELETE /api/v1/portals/:id/risk-windows/:name':
      return { body: { reason: 'fuzzed withdrawal' } };
    case 'POST /api/v1/hooks/alertmanager':
      // Only the fields the schema knows (it lets Alertmanager's other fields through unchecked).
      return {
        body: {
          version: '4',
          status: 'firing',
          receiver: 'portal-failover',
          groupKey: '{}:{}',
          alerts: [
            { status: 'firing', labels: { alertname: 'Fuzz', portal: PORTAL, failover_action: 'switchover', site: 'primary', to: 'standby' }, annotations: { summary: 'fuzz' }, startsAt: '2026-01-01T00:00:00Z', endsAt: '0001-01-01T00:00:00Z', fingerprint: 'f1' },
            { status: 'resolved', labels: { alertname: 'Fuzz2', portal: PORTAL }, annotations: {}, startsAt: '2026-01-01T00:00:00Z', endsAt: '2026-01-01T00:01:00Z', fingerprint: 'f2' },
          ],
        },
      };
    case 'GET /api/v1/portals/:id/operations':
      return { query: { limit: '5' } };
    case 'GET /api/v1/audit':
      return { query: { portal: PORTAL, type: 'freeze', since: '2020-01-01T00:00:00Z', until: '2999-01-01T00:00:00Z', limit: '10' } };
    case 'GET /api/v1/audit/verify':
      return { query: { seq: '1', hash: 'a'.repeat(64) } };
    default:
      return {};
  }
}

const withInput = routes().filter((d) => d.body !== undefined || d.query !== undefined);



/** How parseOr400 writes a path: `alerts[0].labels.portal`. */
const shown = (at: Path) => at.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('').replace(/^\./, '');

async function send(d: RouteDef, input: { body?: unknown; query?: unknown }) {
  let req = request(h.server)[d.method](fillPath(d, { id: fx.id, name: WINDOW })).set('Authorization', bearer('admin'));
  if (input.query !== undefined) req = req.query(withPortal(input.query) as Record<string, string>);
  // As raw JSON text: a body may be any JSON value, which supertest would not send as JSON itself.
  return input.body !== undefined ? req.set('Content-Type', 'application/json').send(JSON.stringify(withPortal(input.body))) : req;
}

function expectNoFaultAndNamedRefusal(res: { status: number; body: unknown; text: string }, what: string): void {
  if (res.status >= 500) throw new Error(`${what}: ${res.status} ${res.text}`);
  if (res.status === 400) {
    const problems = bodyOf<ErrorBody>(res).problems ?? [];
    if (!problems.length) throw new Error(`${what}: 400 without problems: ${res.text}`);
    for (const p of problems) if (!p.path || !p.message) throw new Error(`${what}: a problem without path or message: ${res.text}`);
  }
}

const valueArb = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', 'x'.repeat(2000), '__proto__', 'standby', 'primary', '2999-01-01T00:00:00Z', '-1', '1e400', 'true'),
  fc.integer(),
);
const keyArb = fc.oneof(fc.string({ minLength: 1, maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'force', 'role'));

describe.each(withInput.map((d) => [label(d), d] as const))('%s', (_name, d) => {
  const base = valid(d);
  const where = base.body !== undefined ? 'body' : 'query';
  const doc = (base.body ?? base.query ?? {}) as Record<string, unknown>;
  const docPaths = paths(doc);

  it('the valid request it is fuzzed from is accepted', async () => {
    const res = await send(d, base);
    expect([res.status, res.status < 300 || res.status === 409 ? 'ok' : res.text]).toEqual([res.status, 'ok']);
  });

  it('one field replaced, removed or joined by an unknown key: never a 5xx, every 400 names fields', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...docPaths), fc.constantFrom('replace' as const, 'delete' as const, 'extra' as const), valueArb, keyArb, async (at, how, value, key) => {
        const input = mutate(doc, at, how, value, key);
        const res = await send(d, { [where]: input });
        expectNoFaultAndNamedRefusal(res, `${how} ${shown(at) || '(root)'}`);
      }),
      { numRuns: RUNS },
    );
  });

  if (where === 'body') {
    it('a wrong type at a field is refused naming that field', async () => {
      const leaves = docPaths.filter((p) => p.length > 0);
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...leaves), async (at) => {
          // An array fits no field of these schemas except the alerts list and its members' places.
          const res = await send(d, { body: mutate(doc, at, 'replace', [[1]], '') });
          expect(res.status).toBe(400);
          const problems = bodyOf<ErrorBody>(res).problems ?? [];
          expect(problems.map((p) => p.path)).toContainEqual(expect.stringMatching(new RegExp(`^${shown(at).replace(/[[\].$]/g, '\\$&')}`)));
        }),
        { numRuns: Math.min(RUNS, leaves.length * 2) },
      );
    });

    it('bodies of any shape: never a 5xx, every 400 names fields', async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.dictionary(keyArb, fc.jsonValue({ maxDepth: 2 }))), async (body) => {
          const res = await request(h.server)[d.method](fillPath(d, { id: fx.id, name: WINDOW })).set('Authorization', bearer('admin')).set('Content-Type', 'application/json').send(JSON.stringify(body));
          expectNoFaultAndNamedRefusal(res, `body ${JSON.stringify(body).slice(0, 80)}`);
        }),
        { numRuns: RUNS },
      );
    });
  }
});
