import request from 'supertest';
import { parseConfig } from '@portal-failover/shared';
import { hashToken } from '../../services/api/src/auth';
import { scaleRawConfig } from '../support/scale-fixture';
import { startRedis, type RedisServer } from '../support/redis-server';
import { bearer, startApiHarness, TOKENS, type ApiHarness } from './support';

/**
 * The reads people make of every portal at once — the API's portal list and the public status page — at a national
 * size. Started all at once, 12,500 portals' reads queued their Redis commands behind each other until the last
 * ones passed redis.commandTimeout, and both answered 503; they are now read a bounded number at a time.
 */
jest.setTimeout(120_000);

const PORTALS = 12_500;
let server: RedisServer;
let h: ApiHarness;

beforeAll(async () => {
  server = await startRedis();
  const raw = scaleRawConfig({ portals: PORTALS, intervalMs: 60_000, targetUrl: 'http://127.0.0.1:9/', redisUrl: server.url, prefix: 'many' });
  raw.api = { listen: '127.0.0.1:0', tokens: [{ name: 'vera-viewer', role: 'viewer', sha256: hashToken(TOKENS.viewer) }], rateLimit: { max: 100000 } };
  h = await startApiHarness(parseConfig(raw, 'many-portals', {}));
});
afterAll(async () => {
  await h?.close();
  await server?.stop();
});

it('lists 12,500 portals in config order, to two dashboards asking at once', async () => {
  const list = () => request(h.server).get('/api/v1/portals').set('Authorization', bearer('viewer'));
  const answers = await Promise.all([list(), list()]);
  expect(answers.map((r) => r.status)).toEqual([200, 200]);
  for (const res of answers) {
    const ids = (res.body as { portals: { id: string }[] }).portals.map((p) => p.id);
    expect(ids).toHaveLength(PORTALS);
    expect(ids.every((id, i) => id === `p${i}`)).toBe(true);
  }
});

it('serves the public status page of 12,500 portals, as JSON and as HTML, to readers who come at once', async () => {
  const [json, html, again] = await Promise.all([request(h.server).get('/status.json'), request(h.server).get('/status?lang=en'), request(h.server).get('/status.json')]);
  expect([json.status, html.status, again.status]).toEqual([200, 200, 200]);
  const portals = (json.body as { portals: { id: string; state: string }[] }).portals;
  expect(portals).toHaveLength(PORTALS);
  // No controller ran: nothing is known yet, and the page says so instead of guessing.
  expect(new Set(portals.map((p) => p.state))).toEqual(new Set(['unknown']));
  // The readers who came while it was read got that same reading.
  expect((again.body as { generatedAt: string }).generatedAt).toBe((json.body as { generatedAt: string }).generatedAt);
  expect(html.text).toContain(`Portal ${PORTALS - 1}`);
});
