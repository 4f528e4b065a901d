import express from 'express';
import request from 'supertest';
import { checksQueueName, createLogger, createMetrics, RESULTS_QUEUE } from '@portal-failover/shared';
import { QUEUE_BOARD_CSP, QUEUE_BOARD_PATH, queueSupport } from '../../services/api/src/queues';
import { bearer, QueueWriter, queueTestConfig, ROLES, startApp, TOKENS, type AppHarness } from './support';

/**
 * Issue "queue UI for operators": bull-board under /admin/queues on the real app and Redis. Every role with a token
 * sees it, read-only; without a token nothing of it is served; a write through its API is refused.
 */
jest.setTimeout(60_000);

const CHECKS = checksQueueName('bb-hcm');

interface BoardQueue {
  name: string;
  readOnlyMode: boolean;
  allowRetries: boolean;
  isPaused: boolean;
  counts: Record<string, number>;
}

let h: AppHarness;
let writer: QueueWriter;

beforeAll(async () => {
  const config = queueTestConfig();
  h = startApp(config);
  writer = new QueueWriter(config.redis.prefix);
  await writer.add(RESULTS_QUEUE, 3);
  await writer.take(RESULTS_QUEUE, true); // one failed job, something "retry" would act on
  await writer.add(CHECKS, 2);
  await writer.add(CHECKS, 1, { delay: 60_000 });
});

afterAll(async () => {
  await writer?.close();
  await h?.close();
});

const get = (path: string, authorization?: string) => {
  const r = request(h.app).get(path);
  return authorization === undefined ? r : r.set('Authorization', authorization);
};

async function boardQueues(authorization = bearer('viewer')): Promise<BoardQueue[]> {
  const res = await get(`${QUEUE_BOARD_PATH}/api/queues`, authorization);
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return (res.body as { queues: BoardQueue[] }).queues;
}

describe('authentication', () => {
  it.each([QUEUE_BOARD_PATH, `${QUEUE_BOARD_PATH}/`, `${QUEUE_BOARD_PATH}/api/queues`, `${QUEUE_BOARD_PATH}/static/images/logo.svg`, `${QUEUE_BOARD_PATH}/queue/${RESULTS_QUEUE}`])(
    'no token: %s answers 401 with WWW-Authenticate: Bearer',
    async (path) => {
      const res = await get(path);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.text).not.toMatch(/<html/i);
    },
  );

  it.each([
    ['an unknown token', 'Bearer pf_not_a_token_anybody_has_0000000000'],
    ['a known token with another scheme', `Basic ${TOKENS.viewer}`],
  ])('%s: 401', async (_what, authorization) => {
    expect((await get(QUEUE_BOARD_PATH, authorization)).status).toBe(401);
  });

  it('a token in the query string is not accepted', async () => {
    for (const name of ['token', 'access_token', 'authorization', 'bearer']) {
      const res = await get(`${QUEUE_BOARD_PATH}?${name}=${encodeURIComponent(TOKENS.admin)}`);
      expect({ name, status: res.status }).toEqual({ name, status: 401 });
      const api = await get(`${QUEUE_BOARD_PATH}/api/queues?${name}=${encodeURIComponent(TOKENS.admin)}`);
      expect({ name, status: api.status }).toEqual({ name, status: 401 });
    }
  });
});

describe('the board for every role', () => {
  it.each(ROLES)('%s: 200 HTML page based at /admin/queues/, with its own CSP', async (role) => {
    const res = await get(QUEUE_BOARD_PATH, bearer(role));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain(`<base href="${QUEUE_BOARD_PATH}/"`);
    expect(res.text).toContain('portal-failover queues');
    expect(res.headers['content-security-policy']).toBe(QUEUE_BOARD_CSP);
    expect(res.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
    // helmet's other headers stay.
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(JSON.stringify(res.headers) + res.text).not.toContain(TOKENS[role]);
  });

  it("serves the page's scripts and styles with the token, the CSP allowing each of them", async () => {
    const page = await get(QUEUE_BOARD_PATH, bearer('viewer'));
    const assets = [...page.text.matchAll(/(?:src|href)="(static\/[^"]+)"/g)].map((m) => m[1]);
    expect(assets.filter((a) => a.endsWith('.js')).length).toBeGreaterThan(0);
    expect(assets.filter((a) => a.endsWith('.css')).length).toBeGreaterThan(0);
    for (const a of assets) {
      const res = await get(`${QUEUE_BOARD_PATH}/${a}`, bearer('viewer'));
      expect({ a, status: res.status }).toEqual({ a, status: 200 });
      expect((await get(`${QUEUE_BOARD_PATH}/${a}`)).status).toBe(401);
    }
    // No inline script to execute: the only inline <script> is the JSON config block.
    const inline = [...page.text.matchAll(/<script(?![^>]*\bsrc=)([^>]*)>/g)].map((m) => m[1]);
    expect(inline).toEqual([' id="__UI_CONFIG__" type="application/json"']);
    // The API's own routes keep helmet's strict default.
    const api = await get('/api/v1/portals', bearer('viewer'));
    expect(api.headers['content-security-policy']).toContain('upgrade-insecure-requests');
  });

  it.each(ROLES)('%s: the JSON API lists results and the checks queue, read-only, with their counts', async (role) => {
    const queues = await boardQueues(bearer(role));
    expect(queues.map((q) => q.name).sort()).toEqual([CHECKS, RESULTS_QUEUE].sort());
    for (const q of queues) expect({ name: q.name, readOnlyMode: q.readOnlyMode, allowRetries: q.allowRetries }).toEqual({ name: q.name, readOnlyMode: true, allowRetries: false });
    const results = queues.find((q) => q.name === RESULTS_QUEUE);
    const checks = queues.find((q) => q.name === CHECKS);
    expect(results?.counts).toMatchObject({ waiting: 2, failed: 1 });
    expect(checks?.counts).toMatchObject({ waiting: 2, delayed: 1 });
  });

  it('a queue that appears later is listed', async () => {
    // The board re-reads the queue list at most every 30 s: a new app sees a queue created before it.
    const extra = checksQueueName('bb-late');
    await writer.add(extra, 1);
    const other = startApp(h.config);
    try {
      const res = await request(other.app).get(`${QUEUE_BOARD_PATH}/api/queues`).set('Authorization', bearer('viewer'));
      expect((res.body as { queues: BoardQueue[] }).queues.map((q) => q.name).sort()).toEqual([CHECKS, extra, RESULTS_QUEUE].sort());
    } finally {
      await other.close();
      await writer.queue(extra).obliterate({ force: true });
    }
  });
});

describe('read-only for everyone', () => {
  const writes: [string, 'put' | 'post' | 'delete' | 'patch', string][] = [
    ['retry failed jobs', 'put', `/api/queues/${RESULTS_QUEUE}/retry/failed`],
    ['clean failed jobs', 'put', `/api/queues/${RESULTS_QUEUE}/clean/failed`],
    ['empty a queue', 'put', `/api/queues/${CHECKS}/empty`],
    ['pause a queue', 'put', `/api/queues/${CHECKS}/pause`],
    ['pause every queue', 'put', '/api/queues/pause'],
    ['add a job', 'post', `/api/queues/${CHECKS}/add`],
    ['promote delayed jobs', 'put', `/api/queues/${CHECKS}/promote`],
    ['obliterate a queue', 'put', `/api/queues/${CHECKS}/obliterate`],
  ];

  it.each(writes.flatMap(([what, method, path]) => ROLES.map((role) => [what, role, method, path] as const)))('%s as %s: 405, nothing changes', async (_what, role, method, path) => {
    const before = await boardQueues();
    const res = await request(h.app)[method](`${QUEUE_BOARD_PATH}${path}`).set('Authorization', bearer(role)).send({ name: 'x', data: {} });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expect((res.body as { error?: string }).error).toMatch(/read-only/);
    const after = await boardQueues();
    expect(after.map((q) => [q.name, q.counts, q.isPaused])).toEqual(before.map((q) => [q.name, q.counts, q.isPaused]));
  });

  it('a write without a token is a 401 before anything else', async () => {
    expect((await request(h.app).put(`${QUEUE_BOARD_PATH}/api/queues/${RESULTS_QUEUE}/retry/failed`)).status).toBe(401);
  });

  it("second line: bull-board itself refuses writes to its read-only queues (the app's guard taken away)", async () => {
    const support = queueSupport({ config: h.config, redis: h.redis, metrics: createMetrics(undefined, { defaultMetrics: false }), logger: createLogger({ silent: true }) });
    const [guard, ...rest] = support.board;
    expect(guard.name).toBe('readOnly');
    const bare = express().use(QUEUE_BOARD_PATH, ...rest);
    try {
      for (const [method, path] of [
        ['put', `/api/queues/${RESULTS_QUEUE}/retry/failed`],
        ['put', `/api/queues/${RESULTS_QUEUE}/clean/failed`],
        ['put', `/api/queues/${CHECKS}/pause`],
        ['put', `/api/queues/${CHECKS}/empty`],
      ] as const) {
        const res = await request(bare)[method](`${QUEUE_BOARD_PATH}${path}`).send({});
        expect({ path, status: res.status, body: res.text }).toEqual({ path, status: 405, body: expect.stringMatching(/READ_ONLY/) });
      }
    } finally {
      await support.close();
    }
  });

  it('the failed job is still failed and the queues are not paused', async () => {
    const queues = await boardQueues();
    expect(queues.find((q) => q.name === RESULTS_QUEUE)?.counts.failed).toBe(1);
    expect(queues.map((q) => q.isPaused)).toEqual([false, false]);
    expect(await writer.queue(RESULTS_QUEUE).getJobCounts('failed')).toEqual({ failed: 1 });
  });
});

describe('OpenAPI', () => {
  it('documents GET /admin/queues for viewers', async () => {
    const res = await get('/api/v1/openapi.json');
    const doc = res.body as { paths: Record<string, Record<string, { 'x-required-role'?: string; summary?: string; responses?: Record<string, { description?: string }> }>> };
    const op = doc.paths[QUEUE_BOARD_PATH]?.get;
    expect(op?.['x-required-role']).toBe('viewer');
    expect(op?.summary).toMatch(/read-only/);
    expect(Object.keys(op?.responses ?? {}).sort()).toEqual(['200', '401', '403']);
    expect(op?.responses?.['200']?.description).toContain('text/html');
  });
});
