import { keys } from '@portal-failover/shared';
import { waitFor } from '../support/free-port';
import type { PortalFixture } from '../support/e2e';
import { bearer, bodyOf, getPortal, startStack, waitForOperation, type ErrorBody, type OperationBody, type Stack } from './support';

/**
 * Issue #14, API conventions, on the whole product in one process (real Redis, real PowerDNS behind the steps):
 * RFC 9457 problem+json errors naming the field, Idempotency-Key on POSTs, cursor paging of operations, and
 * POST .../unfreeze beside the deprecated DELETE .../freeze.
 */
jest.setTimeout(120_000);

let stack: Stack;
let a: PortalFixture;
let b: PortalFixture;
const api = () => stack.api();

beforeAll(async () => {
  stack = await startStack(['conv-switch', 'conv-pages'], { policy: { failureThreshold: 2, recoveryThreshold: 2 } });
  [a, b] = stack.fixtures;
  await waitFor(
    async () => {
      const v = await getPortal(api, a.id);
      return v.phase === 'healthy' && v.sites.every((s) => s.status === 'up');
    },
    { timeoutMs: 20_000, intervalMs: 100, what: `${a.id} healthy on both sites` },
  );
});

afterAll(async () => {
  await stack?.close();
});

describe('errors are RFC 9457 application/problem+json', () => {
  it('a bad switchover body names the field and the reason', async () => {
    const res = await api().post(`/api/v1/portals/${a.id}/switchover`).set('Authorization', bearer('operator')).send({ to: 'standby', reason: 'ok', force: 'yes' });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = bodyOf<ErrorBody>(res);
    expect(body).toMatchObject({ type: 'about:blank', title: 'Bad Request', status: 400, detail: 'invalid body', instance: `/api/v1/portals/${a.id}/switchover` });
    expect(body.problems).toEqual(
      expect.arrayContaining([
        { path: 'reason', message: 'must say why in at least 3 characters' },
        { path: 'force', message: 'must be a boolean' },
      ]),
    );
  });

  it.each([
    ['401 without a token', () => api().get('/api/v1/portals'), 401, 'Unauthorized'],
    ['403 for a weak role', () => api().post(`/api/v1/portals/${a.id}/freeze`).set('Authorization', bearer('viewer')).send({ reason: 'viewer tries' }), 403, 'Forbidden'],
    ['404 for an unknown portal', () => api().get('/api/v1/portals/nope').set('Authorization', bearer('viewer')), 404, 'Not Found'],
    ['404 for an unknown route', () => api().get('/api/v1/nothing-here').set('Authorization', bearer('viewer')), 404, 'Not Found'],
    ['400 for JSON that does not parse', () => api().post(`/api/v1/portals/${a.id}/freeze`).set('Authorization', bearer('operator')).set('Content-Type', 'application/json').send('{"reason":'), 400, 'Bad Request'],
  ])('%s', async (_name, call, status, title) => {
    const res = await call();
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = bodyOf<ErrorBody>(res);
    expect(body).toMatchObject({ type: 'about:blank', title, status });
    expect(body.detail.length).toBeGreaterThan(5);
  });
});

describe('Idempotency-Key', () => {
  it('the same switchover POST twice with one key returns the same operation, and starts only one', async () => {
    const key = `retry-${Date.now()}`;
    const send = () => api().post(`/api/v1/portals/${a.id}/switchover`).set('Authorization', bearer('operator')).set('Idempotency-Key', key).send({ to: 'standby', reason: 'planned move, retried after a timeout' });
    const first = await send();
    expect(first.status).toBe(202);
    const second = await send();
    expect(second.status).toBe(202);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.headers.location).toBe(first.headers.location);
    expect(bodyOf<OperationBody>(second)).toEqual(bodyOf<OperationBody>(first));

    const op = await waitForOperation(api, bodyOf<OperationBody>(first).id);
    expect(op.status).toBe('succeeded');
    // A third retry, after the operation finished, still gets the first answer rather than "already active".
    const third = await send();
    expect(third.status).toBe(202);
    expect(bodyOf<OperationBody>(third).id).toBe(op.id);
    const list = await api().get(`/api/v1/portals/${a.id}/operations`).set('Authorization', bearer('viewer'));
    expect(bodyOf<{ operations: OperationBody[] }>(list).operations.filter((o) => o.reason === 'planned move, retried after a timeout')).toHaveLength(1);
  });

  it('the same key with another body is refused with 422, naming the header', async () => {
    const key = `other-body-${Date.now()}`;
    const freeze = (reason: string) => api().post(`/api/v1/portals/${b.id}/freeze`).set('Authorization', bearer('operator')).set('Idempotency-Key', key).send({ reason });
    expect((await freeze('maintenance window')).status).toBe(200);
    const other = await freeze('a different reason');
    expect(other.status).toBe(422);
    expect(other.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(bodyOf<ErrorBody>(other).problems).toEqual([{ path: 'Idempotency-Key', message: 'already used with a different body' }]);
    await api().post(`/api/v1/portals/${b.id}/unfreeze`).set('Authorization', bearer('operator')).send({ reason: 'done' });
  });

  it('keys are per caller, and a failed first request keeps nothing', async () => {
    const key = `shared-${Date.now()}`;
    // A 409 (already active) is not kept: after the cause is fixed, the same key may be used.
    const noop = await api().post(`/api/v1/portals/${a.id}/switchover`).set('Authorization', bearer('operator')).set('Idempotency-Key', key).send({ to: 'standby', reason: 'already there' });
    expect(noop.status).toBe(409);
    const again = await api().post(`/api/v1/portals/${a.id}/switchover`).set('Authorization', bearer('operator')).set('Idempotency-Key', key).send({ to: 'standby', reason: 'already there' });
    expect(again.status).toBe(409);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    // Another token with the same key is another request.
    const mine = await api().post(`/api/v1/portals/${b.id}/ack`).set('Authorization', bearer('operator')).set('Idempotency-Key', key).send({ reason: 'seen it' });
    const theirs = await api().post(`/api/v1/portals/${b.id}/ack`).set('Authorization', bearer('admin')).set('Idempotency-Key', key).send({ reason: 'seen it' });
    expect([mine.status, theirs.status]).toEqual([200, 200]);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(bodyOf<{ acknowledged: { actor: string } }>(theirs).acknowledged.actor).not.toBe(bodyOf<{ acknowledged: { actor: string } }>(mine).acknowledged.actor);
  });

  it('a malformed key is a 400 naming the header', async () => {
    const res = await api().post(`/api/v1/portals/${b.id}/ack`).set('Authorization', bearer('operator')).set('Idempotency-Key', 'x'.repeat(256)).send({ reason: 'seen it' });
    expect(res.status).toBe(400);
    expect(bodyOf<ErrorBody>(res).problems?.[0].path).toBe('Idempotency-Key');
  });
});

describe('unfreeze', () => {
  it('POST .../unfreeze resumes automation; DELETE .../freeze still works and says it is deprecated', async () => {
    const freeze = () => api().post(`/api/v1/portals/${b.id}/freeze`).set('Authorization', bearer('operator')).send({ reason: 'maintenance window' });
    expect((await freeze()).status).toBe(200);
    const post = await api().post(`/api/v1/portals/${b.id}/unfreeze`).set('Authorization', bearer('operator')).send({ reason: 'maintenance over' });
    expect(post.status).toBe(200);
    expect(post.body).toEqual({ portal: b.id, frozen: null });
    expect((await getPortal(api, b.id)).frozen).toBeNull();

    expect((await freeze()).status).toBe(200);
    const del = await api().delete(`/api/v1/portals/${b.id}/freeze`).set('Authorization', bearer('operator')).send({ reason: 'maintenance over' });
    expect(del.status).toBe(200);
    expect(del.headers.deprecation).toBe('true');
    expect(del.headers.link).toBe(`</api/v1/portals/${b.id}/unfreeze>; rel="successor-version"`);
    expect((await getPortal(api, b.id)).frozen).toBeNull();
  });
});

describe('operations are paged with a cursor', () => {
  it('pages follow each other without gaps or repeats, also across operations decided in the same millisecond and new ones arriving', async () => {
    const k = keys(stack.config.redis.prefix);
    // Operation records as the controller writes them (the index is a sorted set scored by decision time);
    // written directly so the test controls the timestamps, including a tie.
    const base = Date.now() - 60_000;
    const stamps = [base, base + 10, base + 10, base + 10, base + 20, base + 30, base + 40];
    const ids = stamps.map((t, i) => `${b.id}-page-${i}`);
    for (const [i, id] of ids.entries()) {
      const op = { id, portal: b.id, from: 'primary', to: 'standby', trigger: 'manual', reason: `paging ${i}`, actor: 'test', status: 'failed', fence: 1, decidedAt: stamps[i], resumedCount: 0, steps: [], error: 'test record' };
      await stack.redis.set(k.operation(id), JSON.stringify(op));
      await stack.redis.zadd(k.portalOperations(b.id), stamps[i], id);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await api().get(`/api/v1/portals/${b.id}/operations`).query({ limit: 2, ...(cursor ? { cursor } : {}) }).set('Authorization', bearer('viewer'));
      expect(res.status).toBe(200);
      const page = bodyOf<{ operations: OperationBody[]; next?: string }>(res);
      expect(page.operations.length).toBeLessThanOrEqual(2);
      seen.push(...page.operations.map((o) => o.id));
      cursor = page.next;
      pages++;
      if (pages === 1) {
        // A new operation arriving while someone pages goes to the front, not into the next page.
        const id = `${b.id}-page-new`;
        await stack.redis.set(k.operation(id), JSON.stringify({ id, portal: b.id, from: 'primary', to: 'standby', trigger: 'manual', reason: 'new', actor: 'test', status: 'failed', fence: 1, decidedAt: Date.now(), resumedCount: 0, steps: [] }));
        await stack.redis.zadd(k.portalOperations(b.id), Date.now(), id);
      }
    } while (cursor && pages < 10);
    const expected = [...ids].reverse(); // newest first; ties in reverse id order, as Redis orders them
    expect(seen.filter((id) => id.includes('-page-') && !id.endsWith('-new'))).toEqual(expected);
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBe(4);
  });

  it('a forged cursor is a 400 naming it', async () => {
    const res = await api().get(`/api/v1/portals/${b.id}/operations`).query({ cursor: 'not-a-cursor' }).set('Authorization', bearer('viewer'));
    expect(res.status).toBe(400);
    expect(bodyOf<ErrorBody>(res).problems).toEqual([{ path: 'cursor', message: 'must be the `next` value of a previous page' }]);
  });
});
