import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { createMetrics, createRedis, parseConfig, type AuditEntry, type Config } from '@portal-failover/shared';
import { closeApp, createApp } from '@portal-failover/api';
import { createToken, hashToken } from '../../services/api/src/auth';
import { portalFixture, type PortalFixture } from '../support/e2e';
import { spawnService, writeConfigFile, type ServiceProcess } from '../support/processes';
import { waitFor } from '../support/free-port';
import { alertPayload, apiRawConfig, bearer, bodyOf, expectNoSecrets, rawAudit, startApiHarness, TOKEN_NAMES, TOKENS, type ApiHarness, type ErrorBody, type OperationBody } from './support';

/**
 * Issue #9 item 5: roles that match the jobs (automation for Alertmanager, admin for tokens), token expiry, the
 * token file re-read without a restart, and every refusal audited by token name, repeated ones as a count.
 */
jest.setTimeout(60_000);

let fx: PortalFixture;
let h: ApiHarness;
const expired = createToken('old-pager', 'operator', '2020-01-01T00:00:00Z');
const later = createToken('next-year', 'viewer', '2999-01-01T00:00:00Z');

function config(extra: (raw: Record<string, unknown>) => void = () => undefined): Config {
  const raw = apiRawConfig([fx]);
  const api = raw.api as Record<string, unknown>;
  api.tokens = [...(api.tokens as object[]), expired.record, later.record];
  api.repeatWindow = '1s';
  extra(raw);
  const { REDIS_URL: _ignored, ...env } = process.env;
  return parseConfig(raw, 'tokens-test', env);
}

async function auditOf(redis: ApiHarness['redis'], prefix: string, type: string): Promise<AuditEntry[]> {
  const all = await redis.xrange(`${prefix}:audit`, '-', '+');
  return all.map(([, f]) => JSON.parse(f[f.indexOf('e') + 1]) as AuditEntry).filter((e) => e.type === type);
}

beforeAll(async () => {
  fx = await portalFixture('tokens');
  h = await startApiHarness(config());
});

afterAll(async () => {
  await h?.close();
  await fx?.primary.close();
  await fx?.standby.close();
});

describe('automation role (Alertmanager)', () => {
  const api = () => request(h.server);
  it('may send alerts: a firing alert starts a switchover (200, outcome started)', async () => {
    const res = await api()
      .post('/api/v1/hooks/alertmanager')
      .set('Authorization', bearer('automation'))
      .send(alertPayload([{ status: 'firing', labels: { alertname: 'PortalDown', portal: fx.id, failover_action: 'switchover', site: 'primary', to: 'standby' } }]));
    expect(res.status).toBe(200);
    expect(bodyOf<{ results: { outcome: string; operationId?: string }[] }>(res).results[0].outcome).toBe('started');
    const op = bodyOf<{ results: { operationId?: string }[] }>(res).results[0].operationId;
    const stored = bodyOf<OperationBody>(await api().get(`/api/v1/operations/${op}`).set('Authorization', bearer('automation')));
    expect(stored.actor).toBe(`alertmanager(${TOKEN_NAMES.automation})`);
  });

  it.each([
    ['a forced switchover', 'post', '/switchover', { to: 'standby', reason: 'forced by a leaked token', force: true }],
    ['a switchover by hand', 'post', '/switchover', { to: 'standby', reason: 'by hand' }],
    ['a dry run of a switchover', 'post', '/switchover', { to: 'standby', reason: 'by hand', dryRun: true }],
    ['freeze', 'post', '/freeze', { reason: 'stop automation' }],
    ['unfreeze', 'post', '/unfreeze', { reason: 'resume automation' }],
    ['unfreeze (DELETE)', 'delete', '/freeze', { reason: 'resume automation' }],
    ['acknowledge', 'post', '/ack', { reason: 'seen it' }],
  ] as const)('may not ask for %s: 403 naming the operator role and the token', async (_what, method, suffix, body) => {
    const res = await api()[method](`/api/v1/portals/${fx.id}${suffix}`).set('Authorization', bearer('automation')).send(body);
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(bodyOf<ErrorBody>(res).detail).toBe(`this needs the operator role; token "${TOKEN_NAMES.automation}" is automation`);
  });

  it('may read the portal and the audit', async () => {
    expect((await api().get(`/api/v1/portals/${fx.id}`).set('Authorization', bearer('automation'))).status).toBe(200);
    expect((await api().get('/api/v1/audit').set('Authorization', bearer('automation'))).status).toBe(200);
  });
});

describe('expiry', () => {
  it('an expired token: 401 problem+json naming the token and when it expired, never its value', async () => {
    const res = await request(h.server).get('/api/v1/portals').set('Authorization', `Bearer ${expired.token}`);
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token", error_description="token expired"');
    expect(bodyOf<ErrorBody>(res).detail).toBe('bearer token "old-pager" expired at 2020-01-01T00:00:00Z; ask an admin for a new one');
    expect(res.text).not.toContain(expired.token);
  });

  it('a token expiring in the future works until then', async () => {
    expect((await request(h.server).get('/api/v1/portals').set('Authorization', `Bearer ${later.token}`)).status).toBe(200);
  });

  it('the clock decides: the same token is refused once the API clock passes its expiry', async () => {
    let now = Date.parse('2998-12-31T23:59:59Z');
    const app = createApp({ config: h.config, redis: h.redis, metrics: createMetrics(undefined, { defaultMetrics: false }), now: () => now });
    try {
      expect((await request(app).get('/api/v1/portals').set('Authorization', `Bearer ${later.token}`)).status).toBe(200);
      now = Date.parse('2999-01-01T00:00:00Z');
      expect((await request(app).get('/api/v1/portals').set('Authorization', `Bearer ${later.token}`)).status).toBe(401);
    } finally {
      await closeApp(app);
    }
  });

  it('config validation names a malformed expires', () => {
    expect(() =>
      config((raw) => {
        ((raw.api as Record<string, unknown>).tokens as Record<string, unknown>[])[0].expires = 'next tuesday';
      }),
    ).toThrow(/api\.tokens\[0\]\.expires.*ISO 8601/s);
  });
});

describe('admin role', () => {
  it('lists tokens by name, role and expiry, never a hash; other roles get 403', async () => {
    const res = await request(h.server).get('/api/v1/tokens').set('Authorization', bearer('admin'));
    expect(res.status).toBe(200);
    const body = bodyOf<{ tokens: { name: string; role: string; expired: boolean; expires?: string }[] }>(res);
    expect(body.tokens).toContainEqual({ name: 'old-pager', role: 'operator', source: 'config', expires: '2020-01-01T00:00:00Z', expired: true });
    expect(body.tokens).toContainEqual({ name: TOKEN_NAMES.automation, role: 'automation', source: 'config', expired: false });
    for (const t of Object.values(TOKENS)) expect(res.text).not.toContain(hashToken(t));
    expect((await request(h.server).get('/api/v1/tokens').set('Authorization', bearer('operator'))).status).toBe(403);
  });
});

describe('refusals are audited by token name, repeats as one count per window', () => {
  it('five identical 403s: one entry at once (count 1), one when the window closes (count 4), naming the token', async () => {
    const before = (await auditOf(h.redis, h.config.redis.prefix, 'api.denied')).length;
    for (let i = 0; i < 5; i++) {
      const res = await request(h.server).post(`/api/v1/portals/${fx.id}/freeze`).set('Authorization', bearer('viewer')).send({ reason: 'not allowed' });
      expect(res.status).toBe(403);
    }
    const entries = await waitFor(
      async () => {
        const all = (await auditOf(h.redis, h.config.redis.prefix, 'api.denied')).slice(before).filter((e) => e.actor === TOKEN_NAMES.viewer);
        return all.length >= 2 ? all : undefined;
      },
      { timeoutMs: 5000, intervalMs: 100, what: 'the counted refusal' },
    );
    expect(entries.map((e) => e.data)).toEqual([
      { status: 403, method: 'POST', route: '/api/v1/portals/:id/freeze', count: 1 },
      expect.objectContaining({ status: 403, method: 'POST', route: '/api/v1/portals/:id/freeze', count: 4, repeated: true }),
    ]);
    expect(entries[0].reason).toBe(`this needs the operator role; token "${TOKEN_NAMES.viewer}" is viewer`);
  });

  it('401s are audited too: unknown tokens as "(unknown token)", expired ones by name', async () => {
    await request(h.server).get('/api/v1/audit').set('Authorization', 'Bearer pf_made_up_0000000000000000');
    await request(h.server).get('/api/v1/audit').set('Authorization', `Bearer ${expired.token}`);
    const entries = await waitFor(
      async () => {
        const all = await auditOf(h.redis, h.config.redis.prefix, 'api.denied');
        const unknown = all.find((e) => e.actor === '(unknown token)' && e.data?.route === '/api/v1/audit');
        const old = all.find((e) => e.actor === 'old-pager' && e.data?.route === '/api/v1/audit');
        return unknown && old ? { unknown, old } : undefined;
      },
      { timeoutMs: 5000, intervalMs: 100, what: 'audited 401s' },
    );
    expect(entries.unknown.data).toMatchObject({ status: 401 });
    expect(entries.old.reason).toMatch(/expired at 2020-01-01T00:00:00Z/);
    const raw = await rawAudit(h.redis, h.config.redis.prefix);
    expectNoSecrets(raw, 'the audit stream');
    expect(raw).not.toContain(expired.token);
  });
});

describe('token file (a real API process)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-tokens-'));
  const file = path.join(dir, 'tokens');
  const alice = createToken('alice', 'operator');
  const bob = createToken('bob', 'automation');
  const admin = createToken('root-admin', 'admin');
  let svc: ServiceProcess;
  let url: string;
  let prefix: string;

  beforeAll(async () => {
    fs.writeFileSync(file, `# rotated by the ops team\n${admin.record.name} admin ${admin.record.sha256}\nalice operator ${alice.record.sha256}\n`);
    const raw = apiRawConfig([fx]);
    (raw.api as Record<string, unknown>).tokenFile = file;
    prefix = (raw.redis as { prefix: string }).prefix;
    svc = spawnService('api', writeConfigFile(raw));
    url = await waitFor(() => /API listening on (http:\/\/[\d.:]+)/.exec(svc.output())?.[1], { timeoutMs: 20_000, intervalMs: 100, what: `the API process to listen (${svc.output()})` });
  });
  afterAll(async () => {
    await svc?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const status = async (token: string) => (await request(url).get('/api/v1/portals').set('Authorization', `Bearer ${token}`)).status;

  it('a changed file is re-read without a restart: the removed token gets 401, the added one works, and it is audited', async () => {
    expect(await status(alice.token)).toBe(200);
    expect(await status(bob.token)).toBe(401);
    fs.writeFileSync(file, `${admin.record.name} admin ${admin.record.sha256}\nbob automation ${bob.record.sha256} 2999-01-01T00:00:00Z\n`);
    await waitFor(async () => (await status(bob.token)) === 200, { timeoutMs: 10_000, intervalMs: 100, what: 'bob accepted after the file changed' });
    expect(await status(alice.token)).toBe(401);
    const reloads = await auditOf(h.redis, prefix, 'tokens.reloaded');
    expect(reloads.at(-1)).toMatchObject({ actor: 'api', reason: 'token file changed', data: { added: ['bob'], removed: ['alice'], changed: [] } });
  });

  it('SIGHUP re-reads it too (audited with reason SIGHUP) and the process keeps serving', async () => {
    const before = (await auditOf(h.redis, prefix, 'tokens.reloaded')).length;
    svc.child.kill('SIGHUP');
    const entry = await waitFor(
      async () => (await auditOf(h.redis, prefix, 'tokens.reloaded')).slice(before).find((e) => e.reason === 'SIGHUP'),
      { timeoutMs: 5000, intervalMs: 50, what: 'the SIGHUP reload' },
    );
    expect(entry.data).toMatchObject({ added: [], removed: [], changed: [] });
    expect(await status(bob.token)).toBe(200);
  });

  it('a file that does not parse is refused: the previous tokens stay, admins see why, the reload route answers 422', async () => {
    fs.writeFileSync(file, `${admin.record.name} admin ${admin.record.sha256}\nbob superuser ${bob.record.sha256}\n`);
    const res = await request(url).post('/api/v1/tokens/reload').set('Authorization', `Bearer ${admin.token}`).send({ reason: 'rotation check' });
    expect(res.status).toBe(422);
    expect(bodyOf<{ ok: boolean; error: string }>(res)).toMatchObject({ ok: false, error: expect.stringMatching(/tokens:2: expected "name role sha256hex \[expires\]"/) });
    expect(await status(bob.token)).toBe(200);
    const list = await request(url).get('/api/v1/tokens').set('Authorization', `Bearer ${admin.token}`);
    expect(bodyOf<{ file: { error?: string } }>(list).file.error).toMatch(/tokens:2/);
    // An admin's reload is audited under the admin's token name.
    const reloads = await auditOf(h.redis, prefix, 'tokens.reloaded');
    expect(reloads.find((e) => e.actor === 'root-admin')).toMatchObject({ reason: 'rotation check', data: { refused: expect.stringMatching(/tokens:2/) } });
  });
});

describe('bounded alerts', () => {
  it('a label longer than the limit: 400 naming the label', async () => {
    const res = await request(h.server)
      .post('/api/v1/hooks/alertmanager')
      .set('Authorization', bearer('automation'))
      .send(alertPayload([{ status: 'firing', labels: { alertname: 'X', portal: fx.id, instance: 'x'.repeat(1025) } }]));
    expect(res.status).toBe(400);
    expect(bodyOf<ErrorBody>(res).problems).toEqual([{ path: 'alerts[0].labels.instance', message: 'must be at most 1024 characters' }]);
  });

  it('more labels than the limit: 400 naming the label set', async () => {
    const labels = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'v']));
    const res = await request(h.server).post('/api/v1/hooks/alertmanager').set('Authorization', bearer('automation')).send(alertPayload([{ status: 'firing', labels }]));
    expect(res.status).toBe(400);
    expect(bodyOf<ErrorBody>(res).problems).toEqual([{ path: 'alerts[0].labels', message: 'must have at most 64 labels' }]);
  });

  it('blocked alerts with distinct labels are counted: 50 alerts to a frozen portal leave two entries, not 50', async () => {
    const fx2 = await portalFixture('tokens-blocked');
    const h2 = await startApiHarness(config((raw) => {
      raw.portals = [...(raw.portals as object[]), ...(apiRawConfig([fx2]).portals as object[])];
    }));
    try {
      const fr = await request(h2.server).post(`/api/v1/portals/${fx2.id}/freeze`).set('Authorization', bearer('operator')).send({ reason: 'maintenance window' });
      expect(fr.status).toBe(200);
      const alerts = Array.from({ length: 50 }, (_, i) => ({ status: 'firing' as const, labels: { alertname: 'PortalDown', portal: fx2.id, failover_action: 'switchover', pod: `pod-${i}-${'p'.repeat(900)}` } }));
      const res = await request(h2.server).post('/api/v1/hooks/alertmanager').set('Authorization', bearer('automation')).send(alertPayload(alerts));
      expect(res.status).toBe(200);
      expect(bodyOf<{ results: { outcome: string }[] }>(res).results.map((r) => r.outcome)).toEqual(Array(50).fill('blocked'));
      const entries = await waitFor(
        async () => {
          const all = (await auditOf(h2.redis, h2.config.redis.prefix, 'alert.received')).filter((e) => e.portal === fx2.id);
          return all.length >= 2 ? all : undefined;
        },
        { timeoutMs: 5000, intervalMs: 100, what: 'the counted blocked alerts' },
      );
      expect(entries.map((e) => e.data?.count)).toEqual([1, 49]);
      expect((entries[0].data?.labels as Record<string, string>).pod).toMatch(/^pod-0-/);
    } finally {
      await h2.close();
      await fx2.primary.close();
      await fx2.standby.close();
    }
  });

  it('a long alert summary is cut and marked in the reason it leaves, not refused', async () => {
    const fx3 = await portalFixture('tokens-summary');
    const h3 = await startApiHarness(config((raw) => {
      raw.portals = apiRawConfig([fx3]).portals;
    }));
    try {
      const res = await request(h3.server)
        .post('/api/v1/hooks/alertmanager')
        .set('Authorization', bearer('automation'))
        .send(alertPayload([{ status: 'firing', labels: { alertname: 'PortalDown', portal: fx3.id, failover_action: 'switchover', to: 'standby' }, annotations: { summary: 's'.repeat(100_000) } }]));
      expect(res.status).toBe(200);
      const id = bodyOf<{ results: { operationId: string }[] }>(res).results[0].operationId;
      const op = bodyOf<OperationBody>(await request(h3.server).get(`/api/v1/operations/${id}`).set('Authorization', bearer('viewer')));
      expect(op.reason.length).toBeLessThan(400);
      expect(op.reason).toMatch(/^alert PortalDown: s+… \[truncated 99718 characters\]$/);
    } finally {
      await h3.close();
      await fx3.primary.close();
      await fx3.standby.close();
    }
  });
});
